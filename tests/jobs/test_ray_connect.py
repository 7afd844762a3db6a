"""How the Ray executor connects: transient server-side refusals are retried, the rest are not.

The refusal ("Initialization failure from server") comes from a Ray client proxy whose per-client
server died while starting; it cannot be provoked on demand, so ``ray.init`` is replaced here by
one that fails a set number of times. The real two-node connection is in test_ray.py.
"""

from __future__ import annotations

import pytest

from relgraph.errors import JobError
from relgraph.jobs import executors

ray = pytest.importorskip("ray")


def _failing_init(monkeypatch: pytest.MonkeyPatch, errors: list[Exception]) -> list[str]:
    calls: list[str] = []

    def init(address: str | None = None, **_: object) -> None:
        calls.append(str(address))
        if errors:
            raise errors.pop(0)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(executors.time, "sleep", lambda s: None)
    return calls


def test_a_refused_client_start_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = ConnectionAbortedError("Initialization failure from server:\nTraceback ...")
    calls = _failing_init(monkeypatch, [refused, refused])
    ex = executors.RayExecutor(address="ray://127.0.0.1:1", slots=1)
    assert calls == ["ray://127.0.0.1:1"] * 3
    assert ex.slots == 1


def test_refusals_give_up_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    refused = ConnectionAbortedError("Initialization failure from server:\nboom")
    calls = _failing_init(monkeypatch, [refused] * executors.RAY_CONNECT_ATTEMPTS)
    with pytest.raises(JobError, match=r"after 3 attempts: Initialization failure"):
        executors.RayExecutor(address="ray://127.0.0.1:1", slots=1)
    assert len(calls) == executors.RAY_CONNECT_ATTEMPTS


def test_other_connection_errors_fail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _failing_init(monkeypatch, [ConnectionError("no Ray at 10.0.0.1:6379")])
    with pytest.raises(JobError, match=r"cannot connect to Ray at '10.0.0.1:6379': no Ray"):
        executors.RayExecutor(address="10.0.0.1:6379", slots=1)
    assert len(calls) == 1
