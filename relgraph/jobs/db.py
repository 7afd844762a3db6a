"""The metadata database: SQLite in the workspace by default, PostgreSQL by URL.

SQLite runs in WAL mode, every transaction starts with ``BEGIN IMMEDIATE`` (so
a reader never has to upgrade to a writer, the case ``busy_timeout`` cannot
wait out) and :meth:`MetaDB.session` retries a transaction that still meets
"database is locked": two pipelines on one workspace wait for each other, and
the user never sees the error.

Example:
    >>> db = MetaDB.open("sqlite://")  # an in-memory database
    >>> db.url
    'sqlite://'
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from relgraph.errors import JobError
from relgraph.store import atomic

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
META_FILE = "meta.db"
BUSY_TIMEOUT_MS = 30_000
# How long a transaction keeps retrying "database is locked" before giving up.
RETRY_FOR_S = 120.0
# An arbitrary constant key for PostgreSQL's advisory lock around migrations.
_PG_MIGRATION_LOCK = 72_655_021


def default_url(workspace: str | Path) -> str:
    return f"sqlite:///{Path(workspace).resolve() / META_FILE}"


def _is_locked(e: OperationalError) -> bool:
    msg = str(e.orig).lower()
    return "locked" in msg or "busy" in msg


class MetaDB:
    """A handle on the metadata database; cheap to create, safe to share in a process."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"MetaDB({self.redacted_url!r})"

    @property
    def redacted_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @classmethod
    def open(cls, url: str | None = None, *, workspace: str | Path | None = None) -> MetaDB:
        """Open (and create or migrate to the latest schema) the database at ``url``.

        Without ``url`` the database is ``workspace/meta.db``.
        """
        if url is None:
            if workspace is None:
                raise JobError("MetaDB.open needs a database URL or a workspace folder")
            atomic.private_dir(Path(workspace))
            url = default_url(workspace)
        if url.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver relgraph ships with.
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        try:
            engine = _engine(url)
        except Exception as e:  # bad URL, missing driver
            raise JobError(f"cannot open metadata database '{url}': {e}") from e
        db = cls(url, engine)
        db.migrate()
        db._make_private()
        return db

    def _make_private(self) -> None:
        """A SQLite file (and its WAL) readable by its owner only: it holds every job's
        parameters, logs and errors."""
        name = self.engine.url.database
        if self.engine.url.get_backend_name() != "sqlite" or name in (None, "", ":memory:"):
            return
        for suffix in ("", "-wal", "-shm"):
            f = Path(f"{name}{suffix}")
            with contextlib.suppress(OSError):  # absent, or not ours
                if f.stat().st_mode & 0o077:
                    f.chmod(0o600)

    def migrate(self) -> None:
        """Apply the packaged Alembic migrations up to head (no-op when current)."""
        script = ScriptDirectory(str(MIGRATIONS))
        head = script.get_current_head()

        def upgrade() -> None:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Two processes opening a fresh database must not both create tables.
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                cfg = Config()
                cfg.set_main_option("script_location", str(MIGRATIONS))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")

        try:
            self.retry(upgrade)
        except OperationalError as e:
            raise JobError(f"cannot migrate metadata database {self.redacted_url}: {e.orig}") from e

    def retry(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` again (with jittered backoff) while SQLite says it is locked."""
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.05
        while True:
            try:
                return fn()
            except OperationalError as e:
                if not _is_locked(e) or time.monotonic() > deadline:
                    raise
                log.debug("metadata database busy, retrying in %.2fs", delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction; commits on success. Use :meth:`write` when it may need a retry."""
        with self._sessions() as s, s.begin():
            yield s

    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction, retried as a whole while the database is locked."""

        def once() -> T:
            with self.session() as s:
                return fn(s)

        return self.retry(once)

    read = write

    def dispose(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN instead of pysqlite.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
