"""HTTP hardening of the service: security headers on every response, a throttle on
bad tokens.

Example:
    >>> t = AuthThrottle(max_failures=2, window_s=60, base_s=1.0)
    >>> for _ in range(3):
    ...     t.failure("10.0.0.1", now=100.0)
    >>> t.retry_after("10.0.0.1", now=100.5)
    0.5
    >>> t.retry_after("10.0.0.2", now=100.5) is None
    True
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The dashboard and /docs load scripts and styles from this origin only (Plotly and
# Swagger UI are served from their Python packages); Plotly sets inline styles on
# the elements it draws, hence 'unsafe-inline' for styles, never for scripts.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response (errors and 413s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                names = {k.lower() for k, _ in msg.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                msg["headers"] = [*msg.get("headers", []), *extra]
            await send(msg)

        await self.app(scope, receive, with_headers)


class AuthThrottle:
    """Per-client backoff after bad tokens.

    A client (an IP address) that sent more than ``max_failures`` unknown tokens within
    ``window_s`` seconds is refused (HTTP 429) for ``base_s * 2**(excess - 1)`` seconds,
    at most ``max_s``, counted from its last failure, whatever token it sends: guessing
    stays slow even for a client that also holds a valid token. Successes do not reset
    the count; failures older than the window do not count.

    Args:
        max_failures: Failures allowed in a window before backing off.
        window_s: The window, seconds.
        base_s: The first backoff, seconds.
        max_s: The longest backoff, seconds.
        max_clients: Clients remembered at most (the oldest are forgotten first).
    """

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 60.0,
        base_s: float = 1.0,
        max_s: float = 300.0,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.base_s = base_s
        self.max_s = max_s
        self.max_clients = max_clients
        self._lock = threading.Lock()
        # client -> (failure times in the window, refused until)
        self._clients: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"AuthThrottle(max_failures={self.max_failures}, window_s={self.window_s}, "
            f"base_s={self.base_s}, max_s={self.max_s})"
        )

    def retry_after(self, client: str, *, now: float | None = None) -> float | None:
        """Seconds until ``client`` may try again, or None when it may now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._clients.get(client)
            if entry is None or entry[1] <= now:
                return None
            return entry[1] - now

    def failure(self, client: str, *, now: float | None = None) -> None:
        """Record a bad token from ``client``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times, until = self._clients.pop(client, (deque(), 0.0))
            times.append(now)
            while times and times[0] < now - self.window_s:
                times.popleft()
            excess = len(times) - self.max_failures
            if excess > 0:
                until = now + min(self.max_s, self.base_s * 2 ** min(excess - 1, 30))
            self._clients[client] = (times, until)
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)


__all__ = ["CSP", "SECURITY_HEADERS", "AuthThrottle", "SecurityHeaders"]
