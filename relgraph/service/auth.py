"""API tokens: created by ``relgraph token create --role ...``, stored hashed in the workspace.

A token is ``rg_<id>_<secret>`` with 256 random bits of secret. Only the SHA-256 of the
whole token is stored (``<workspace>/auth/tokens.json``): the secret is high-entropy,
so a slow password hash (PBKDF2) would add nothing but ~50 ms to every request.

Example:
    >>> store = TokenStore("/tmp/rg-doctest-auth")
    >>> issued = store.create("viewer", name="notebook")
    >>> store.verify(issued.token).role
    <Role.viewer: 'viewer'>
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from relgraph.errors import StoreError
from relgraph.store import atomic

TOKEN_PREFIX = "rg_"


class Role(str, Enum):  # noqa: UP042  (str mixin: JSON and pydantic see plain strings)
    """What a token may do: viewers read, editors also start jobs and change data."""

    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "editor": 1, "admin": 2}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, without its secret."""

    id: str
    role: Role
    name: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role.value, "name": self.name, "created": self.created}


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: the only moment the plain ``token`` is known."""

    info: TokenInfo
    token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Hashed API tokens of one workspace; re-reads the file when it changes on disk."""

    def __init__(self, workspace: str | Path) -> None:
        self.path = Path(workspace) / "auth" / "tokens.json"
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._by_hash: dict[str, TokenInfo] = {}

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    # -- file ------------------------------------------------------------------
    def _read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text())
            return list(data["tokens"])
        except (ValueError, KeyError, TypeError) as e:
            raise StoreError(
                f"corrupt token file '{self.path}': {e}; delete it and create new tokens"
            ) from e

    def _write(self, rows: list[dict[str, Any]]) -> None:
        atomic.private_dir(self.path.parent)
        atomic.write_text(self.path, json.dumps({"tokens": rows}, indent=2))
        self.path.chmod(0o600)

    def _refresh(self) -> None:
        mtime = self.path.stat().st_mtime if self.path.is_file() else None
        if mtime == self._mtime:
            return
        by_hash = {}
        for r in self._read():
            info = TokenInfo(
                id=r["id"], role=Role(r["role"]), name=r.get("name", ""), created=r["created"]
            )
            by_hash[r["sha256"]] = info
        self._by_hash, self._mtime = by_hash, mtime

    # -- public ----------------------------------------------------------------
    def create(self, role: Role | str, *, name: str = "") -> IssuedToken:
        """Create a token with ``role``; returns the plain token once."""
        try:
            role = Role(role)
        except ValueError:
            raise StoreError(f"unknown role '{role}': use admin, editor or viewer") from None
        tid = secrets.token_hex(4)
        token = f"{TOKEN_PREFIX}{tid}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(
            id=tid,
            role=role,
            name=name,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._lock:
            rows = self._read()
            rows.append(asdict(info) | {"role": role.value, "sha256": _digest(token)})
            self._write(rows)
            self._mtime = None
        return IssuedToken(info=info, token=token)

    def list(self) -> list[TokenInfo]:
        with self._lock:
            self._refresh()
            return sorted(self._by_hash.values(), key=lambda t: t.created)

    def revoke(self, token_id: str) -> bool:
        """Delete the token with id ``token_id``; False when there is none."""
        with self._lock:
            rows = self._read()
            kept = [r for r in rows if r["id"] != token_id]
            if len(kept) == len(rows):
                return False
            self._write(kept)
            self._mtime = None
            return True

    def verify(self, token: str) -> TokenInfo | None:
        """The token's info, or None when it is unknown."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _digest(token)
        with self._lock:
            self._refresh()
            # A dict lookup by the SHA-256 of the token: its timing could tell an attacker
            # about the digest of a guess, which gets them no nearer to a valid token.
            return self._by_hash.get(digest)
