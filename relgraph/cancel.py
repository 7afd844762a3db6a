"""Cooperative cancellation: long loops ask "was I cancelled?" and stop within a step.

A job runner gives the job it runs a :class:`CancelToken` (:func:`scope`); the stages
below it call :func:`check` inside their long loops (a training batch, a LightGBM
round, a pretraining step) and wrap long calls into C that Python cannot interrupt in
:func:`interrupting` (a DuckDB query, which ``con.interrupt()`` stops). Code that runs
outside any job (the CLI, a notebook) has no token and pays one lookup per check.

This module sits at the bottom of the house with :mod:`relgraph.errors`: the stages
import it, it imports none of them (docs/architecture.md).

Example:
    >>> token = CancelToken()
    >>> with scope(token):
    ...     check()  # not cancelled: returns
    ...     token.cancel()
    ...     try:
    ...         check()
    ...     except JobCancelled:
    ...         print("stopped")
    stopped
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[CancelToken | None] = ContextVar("relgraph_cancel_token", default=None)


class JobCancelled(BaseException):
    """Raised inside a job once it was cancelled.

    A ``BaseException``, as ``KeyboardInterrupt`` is: the stages' ``except Exception``
    fallbacks (a nicety that fails, a retry) must not swallow a cancel.
    """


class CancelToken:
    """A cancel flag that a runner sets and a job's loops read; thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        """Set the flag and interrupt the long calls in flight (idempotent)."""
        with self._lock:
            first = not self._event.is_set()
            self._event.set()
            hooks = list(self._hooks)
        if first:
            for hook in hooks:
                hook()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)

    def _add(self, hook: Callable[[], None]) -> bool:
        with self._lock:
            if self._event.is_set():
                return False
            self._hooks.append(hook)
            return True

    def _remove(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)


@contextmanager
def scope(token: CancelToken) -> Iterator[CancelToken]:
    """Run the block (a job) under ``token``: :func:`check` in it reads that token."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


def current() -> CancelToken | None:
    """The token of the job running in this thread, if any."""
    return _current.get()


def check() -> None:
    """Raise :class:`JobCancelled` when the job running in this thread was cancelled."""
    token = _current.get()
    if token is not None and token.cancelled:
        raise JobCancelled("cancelled")


@contextmanager
def interrupting(interrupt: Callable[[], None]) -> Iterator[None]:
    """Around one long call that Python cannot break into: a cancel calls ``interrupt``
    (``duckdb_connection.interrupt``), and the error the interrupted call then raises
    is reported as :class:`JobCancelled`, not as a failure of the call."""
    token = _current.get()
    if token is None:
        yield
        return
    if not token._add(interrupt):
        raise JobCancelled("cancelled")
    try:
        yield
    except Exception:
        check()
        raise
    finally:
        token._remove(interrupt)
