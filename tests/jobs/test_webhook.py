from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from relgraph import jobs as rgjobs


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    fail_first: int

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        if server.fail_left > 0:  # type: ignore[attr-defined]
            server.fail_left -= 1  # type: ignore[attr-defined]
            self.send_response(503)
            self.end_headers()
            return
        server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_every_state_change_is_posted_and_a_503_is_retried(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = []  # type: ignore[attr-defined]
    server.fail_left = 2  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    spec = write_spec("""
jobs:
  a: {type: python, function: "steps:emit"}
  b: {type: python, function: "steps:emit", needs: [a]}
""")
    try:
        res = rgjobs.run_pipeline(spec, workspace=tmp_path / "ws", webhook=url)
    finally:
        server.shutdown()
    assert res.ok
    # The runner and the worker post independently: order by the events' own time.
    events = sorted(server.received, key=lambda e: e["at"])  # type: ignore[attr-defined]
    got = [(e["name"], e["status"]) for e in events]
    for name in ("a", "b"):
        assert [s for n, s in got if n == name] == ["pending", "queued", "running", "succeeded"]
    done = next(e for e in server.received if e["name"] == "b" and e["status"] == "succeeded")  # type: ignore[attr-defined]
    assert done["outputs"]["digest"] == res.job("b").outputs["digest"]
    assert done["run_id"] == res.run_id and done["job_id"] == res.job("b").id


def test_an_unreachable_webhook_is_logged_not_fatal(
    tmp_path: Path, write_spec, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    from relgraph.jobs import events

    monkeypatch.setattr(events, "BACKOFF_S", 0.01)
    spec = write_spec('jobs:\n  a: {type: python, function: "steps:emit"}\n')
    res = rgjobs.run_pipeline(spec, workspace=tmp_path / "ws", webhook=f"http://127.0.0.1:{port}/")
    assert res.ok
    assert "giving up on event" in caplog.text
