"""Job state changes: recorded in the metadata DB, optionally POSTed to a webhook.

Webhook delivery runs on a background thread with retries and exponential
backoff; a receiver that is down is logged, never fatal to the pipeline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from relgraph.jobs.models import Event, Job, utcnow

log = logging.getLogger(__name__)

RETRIES = 4
BACKOFF_S = 0.25
TIMEOUT_S = 5.0


def payload(job: Job, message: str | None, at: datetime) -> dict[str, Any]:
    return {
        "event": "job.status",
        "job_id": job.id,
        "run_id": job.run_id,
        "name": job.name,
        "type": job.type,
        "status": job.status,
        "attempts": job.attempts,
        "message": message,
        "error": job.error,
        "outputs": job.outputs,
        "at": at.isoformat(),
    }


class Notifier:
    """POSTs JSON payloads to ``url`` in order, off the caller's thread."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"Notifier({self.url!r}, delivered={self.delivered}, failed={self.failed})"

    def send(self, body: dict[str, Any]) -> None:
        if not self.url:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="relgraph-webhook", daemon=True)
            self._thread.start()
        self._queue.put(body)

    def close(self, timeout: float = 30.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=TIMEOUT_S) as client:
            while True:
                body = self._queue.get()
                if body is None:
                    return
                self._deliver(client, body)

    def _deliver(self, client: Any, body: dict[str, Any]) -> None:
        assert self.url is not None
        delay = BACKOFF_S
        for attempt in range(1, RETRIES + 1):
            try:
                r = client.post(self.url, json=body)
                if r.status_code < 300:
                    self.delivered += 1
                    return
                problem = f"HTTP {r.status_code}"
            except Exception as e:  # any network failure; the pipeline goes on
                problem = f"{type(e).__name__}: {e}"
            if attempt < RETRIES:
                time.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning(
            "webhook %s: giving up on event %s of job %s after %d tries (%s)",
            self.url,
            body.get("status"),
            body.get("job_id"),
            RETRIES,
            problem,
        )


def set_status(
    s: Session,
    job: Job,
    status: str,
    *,
    message: str | None = None,
    notifier: Notifier | None = None,
) -> None:
    """Change ``job``'s status and record the change as an event (same transaction)."""
    now = utcnow()
    job.status = status
    s.add(Event(run_id=job.run_id, job_id=job.id, status=status, message=message, at=now))
    if notifier is not None:
        s.flush()
        notifier.send(payload(job, message, now))
