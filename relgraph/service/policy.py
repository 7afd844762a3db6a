"""The service's source policy: which files and databases an editor may have it read.

The service runs with the rights of its user, so a source an editor names could be
any file that user can read (``/etc/…``, the workspace's own ``meta.db``, its tokens).
The policy admits only:

- files and folders (and ``sqlite:///`` files) whose *real* path (symlinks resolved)
  lies under one of the roots given by ``relgraph serve --source-root DIR``, and not
  inside the workspace or the secret store nor containing them; every entry of a
  folder source must resolve under a root too (a symlink in a data folder cannot
  point out of it);
- database and bucket URLs (``postgresql://``, ``s3://``) that match an admin's
  ``--allow-url PATTERN`` (shell-style, matched against the URL without its
  user-info and secret parameters: ``postgresql://db.internal:5432/*``);
- named connections, ``conn:NAME``, that an admin created (``relgraph connection add``
  or ``PUT /api/v1/connections/NAME``); their URLs stay in the secret store.

A refusal is :class:`~relgraph.errors.AccessDenied` (HTTP 403) with one message that
does not depend on whether the path exists, so the policy cannot be used to probe the
server's files.

Example:
    >>> policy = SourcePolicy(roots=["/srv/data"], workspace="/srv/ws")
    >>> policy.check("/etc/passwd")
    Traceback (most recent call last):
    ...
    relgraph.errors.AccessDenied: source refused by the service's source policy: ...
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from relgraph.errors import AccessDenied
from relgraph.jobs.secretstore import CONNECTION_PREFIX, SecretStore
from relgraph.redact import is_secret_name

REFUSED = (
    "source refused by the service's source policy: the service reads only files under "
    "its source roots (relgraph serve --source-root), database or bucket URLs an admin "
    "allowed (--allow-url) and named connections (conn:NAME, GET /api/v1/connections)"
)
URL_SCHEMES = ("postgresql", "postgres", "s3")


def _real(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def url_for_matching(url: str) -> str:
    """``url`` as allow-list patterns see it: no user-info, no secret query parameters."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise AccessDenied(REFUSED) from None
    query = [(k, v) for k, v in parse_qsl(parts.query) if not is_secret_name(k)]
    q = f"?{urlencode(query)}" if query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{q}"


class SourcePolicy:
    """What the service may read (see the module docstring).

    Args:
        roots: Folders under which file sources may lie.
        allow_urls: Shell-style patterns of database/bucket URLs that may be read.
        workspace: The service's workspace, never readable as a source.
        secrets: Where named connections are kept (none: no named connections).
    """

    def __init__(
        self,
        *,
        roots: Iterable[str | Path] = (),
        allow_urls: Iterable[str] = (),
        workspace: str | Path,
        secrets: SecretStore | None = None,
    ) -> None:
        self.roots = tuple(_real(r) for r in roots)
        self.allow_urls = tuple(allow_urls)
        self.workspace = _real(workspace)
        self.secrets = secrets
        # Never readable as sources, even under a root: the workspace and the secrets.
        self.private = (self.workspace, *((_real(secrets.root),) if secrets else ()))

    def __repr__(self) -> str:
        return f"SourcePolicy(roots={list(self.roots)!r}, allow_urls={list(self.allow_urls)!r})"

    def check(self, source: str) -> str:
        """The source to read for ``source``: a named connection's URL, a file's real
        path, or the URL itself; :class:`AccessDenied` when the policy refuses it."""
        if "\x00" in source:
            raise AccessDenied(REFUSED)
        if source.startswith(CONNECTION_PREFIX):
            return self._connection(source[len(CONNECTION_PREFIX) :])
        if source.startswith("sqlite:///"):
            return "sqlite:///" + self._file(source[len("sqlite:///") :])
        if "://" in source:
            scheme = source.split("://", 1)[0].lower()
            shown = url_for_matching(source)
            if scheme in URL_SCHEMES and any(
                fnmatch.fnmatchcase(shown, p) for p in self.allow_urls
            ):
                return source
            raise AccessDenied(REFUSED)
        return self._file(source)

    def _connection(self, name: str) -> str:
        url = (self.secrets.connections() if self.secrets else {}).get(name)
        if url is None:
            # Connection names are not secret, but one answer for all refusals is simpler.
            raise AccessDenied(REFUSED)
        return url

    def _allowed_path(self, real: str) -> bool:
        if any(_within(real, p) or _within(p, real) for p in self.private):
            return False
        return any(_within(real, root) for root in self.roots)

    def _file(self, path: str) -> str:
        if not path or not os.path.isabs(os.path.expanduser(path)):
            # A relative path would be relative to the service's working directory.
            raise AccessDenied(REFUSED)
        real = _real(path)
        if not self._allowed_path(real):
            raise AccessDenied(REFUSED)
        if os.path.isdir(real):
            try:
                entries = os.listdir(real)
            except OSError:
                raise AccessDenied(REFUSED) from None
            # The folder reader opens its direct entries: each must stay inside the roots.
            if not all(self._allowed_path(_real(os.path.join(real, e))) for e in entries):
                raise AccessDenied(REFUSED)
        return real


__all__ = ["REFUSED", "SourcePolicy", "url_for_matching"]
