"""Where the secrets a job still needs live: outside the workspace, readable by its owner only.

Job records keep redacted parameters (:mod:`relgraph.redact`), so a job that must run
later (queued when the service was killed, retried from the CLI) finds its full
parameters here:

- a service job's parameters under a random reference that its run records
  (``runs.spec_text`` → ``"secret_ref"``); deleted when the job succeeds;
- a pipeline's spec text under the SHA-256 of its redacted text, the text ``runs``
  stores, so the record itself is the reference;
- named connections (``relgraph connection add NAME URL`` or the admin API): sources
  an editor names as ``conn:NAME`` without ever seeing the URL.

The folder is ``$RELGRAPH_SECRETS_DIR`` or ``$XDG_STATE_HOME/relgraph/secrets/<hash of
the workspace's real path>`` (``~/.local/state`` by default): never inside the
workspace, which viewers' jobs read and backups copy. Folders are 0700, files 0600.

Example:
    >>> store = SecretStore("/tmp/rg-doctest-secrets")
    >>> ref = store.put({"source": "postgresql://alice:pw@db/shop"})
    >>> store.get(ref)["source"]
    'postgresql://alice:pw@db/shop'
    >>> store.delete(ref)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from relgraph.errors import JobError
from relgraph.store import atomic

ENV = "RELGRAPH_SECRETS_DIR"
CONNECTIONS = "connections.json"
_REF = re.compile(r"^(?:[0-9a-f]{32}|spec-[0-9a-f]{32})$")
CONNECTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
CONNECTION_PREFIX = "conn:"


def default_dir(workspace: str | Path) -> Path:
    """The secret folder of ``workspace`` (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    key = hashlib.sha256(os.path.realpath(workspace).encode()).hexdigest()[:16]
    return state / "relgraph" / "secrets" / key


class SecretStore:
    """JSON secrets in one private folder, created on the first write."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretStore({str(self.root)!r})"

    @classmethod
    def for_workspace(cls, workspace: str | Path) -> SecretStore:
        return cls(default_dir(workspace))

    # -- files -------------------------------------------------------------------------
    def _file(self, ref: str) -> Path:
        if not _REF.match(ref):
            raise JobError(f"invalid secret reference '{ref[:40]}'")
        return self.root / f"{ref}.json"

    def _write(self, path: Path, value: Any) -> None:
        atomic.private_dir(self.root)
        atomic.write_text(path, json.dumps(value))  # mkstemp: 0600
        path.chmod(0o600)

    @staticmethod
    def _read(path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise JobError(f"cannot read secret file '{path}': {e}") from e

    # -- job parameters ----------------------------------------------------------------
    def put(self, value: Any) -> str:
        """Store ``value``; returns its new reference."""
        ref = secrets.token_hex(16)
        self._write(self._file(ref), value)
        return ref

    def get(self, ref: str) -> Any:
        """The value stored under ``ref``, or None when there is none (any more)."""
        return self._read(self._file(ref))

    def delete(self, ref: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(ref).unlink()

    # -- pipeline specs ----------------------------------------------------------------
    @staticmethod
    def _spec_ref(redacted: str) -> str:
        return "spec-" + hashlib.sha256(redacted.encode()).hexdigest()[:32]

    def put_spec(self, redacted: str, original: str) -> None:
        """Keep ``original``, the spec whose redacted text (the one stored) is ``redacted``."""
        self._write(self._file(self._spec_ref(redacted)), {"text": original})

    def spec(self, redacted: str) -> str:
        """The original of a stored (redacted) spec text; the text itself when none is kept."""
        found = self._read(self._file(self._spec_ref(redacted)))
        return str(found["text"]) if isinstance(found, dict) and "text" in found else redacted

    # -- named connections ----------------------------------------------------------------
    def connections(self) -> dict[str, str]:
        """Connection name → URL (with its secrets)."""
        found = self._read(self.root / CONNECTIONS)
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def set_connection(self, name: str, url: str) -> None:
        if not CONNECTION_NAME.match(name):
            raise JobError(
                f"invalid connection name '{name[:80]}': start with a letter; then letters, "
                "digits, '_' or '-' (at most 64)"
            )
        with self._lock:
            conns = self.connections()
            conns[name] = url
            self._write(self.root / CONNECTIONS, conns)

    def remove_connection(self, name: str) -> bool:
        with self._lock:
            conns = self.connections()
            if conns.pop(name, None) is None:
                return False
            self._write(self.root / CONNECTIONS, conns)
            return True


__all__ = ["CONNECTION_PREFIX", "SecretStore", "default_dir"]
