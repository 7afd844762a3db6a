"""Project events: recorded in the metadata DB's ``events`` table and POSTed to the
project's webhook through :class:`relgraph.jobs.events.Notifier` (retries, backoff, a
receiver that is down never fails a label).

Events: ``item.completed``, ``stage.progress`` (25/50/75 %), ``stage.complete``,
``labelset.created``. They are sent after the transaction that caused them commits.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy.orm import Session

from relgraph.jobs.events import Notifier
from relgraph.jobs.models import Event, utcnow

MILESTONES = (25, 50, 75, 100)
_notifiers: dict[str, Notifier] = {}
_lock = threading.Lock()


def notifier(url: str) -> Notifier:
    """One notifier (one delivery thread, events in order) per webhook URL per process."""
    with _lock:
        n = _notifiers.get(url)
        if n is None:
            n = _notifiers[url] = Notifier(url)
        return n


def record(s: Session, project: str, event: str, **fields: Any) -> dict[str, Any]:
    """Add the event row to ``s`` and return the webhook body (to send after commit)."""
    now = utcnow()
    body = {"event": event, "project": project, **fields, "at": now.isoformat()}
    s.add(Event(run_id=None, job_id=None, status=event[:20], message=json.dumps(body), at=now))
    return body


def send(url: str | None, bodies: list[dict[str, Any]]) -> None:
    if not url:
        return
    n = notifier(url)
    for b in bodies:
        n.send(b)


def flush(timeout: float = 10.0) -> None:
    """Deliver every queued event (tests, CLI exit)."""
    with _lock:
        items = list(_notifiers.items())
        _notifiers.clear()
    for _, n in items:
        n.close(timeout)
