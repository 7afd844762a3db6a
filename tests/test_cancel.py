"""Cooperative cancellation (relgraph.cancel): checks in loops, interrupts of DuckDB."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import duckdb
import pytest

from relgraph import cancel


def test_check_raises_only_under_a_cancelled_token() -> None:
    cancel.check()  # outside any job: nothing to cancel
    token = cancel.CancelToken()
    with cancel.scope(token):
        cancel.check()
        token.cancel()
        with pytest.raises(cancel.JobCancelled):
            cancel.check()
    cancel.check()  # the scope ended with the block


def test_a_cancel_is_not_swallowed_by_except_exception() -> None:
    token = cancel.CancelToken()
    token.cancel()
    with cancel.scope(token), pytest.raises(cancel.JobCancelled):
        try:
            cancel.check()
        except Exception:  # what a stage's "a nicety failed, go on" fallback looks like
            pytest.fail("JobCancelled was caught as an ordinary error")


def test_a_long_duckdb_query_is_interrupted_within_seconds() -> None:
    con = duckdb.connect()
    token = cancel.CancelToken()
    # Minutes of work for DuckDB: a cross join it must count row by row.
    sql = "SELECT count(*) FROM range(100000000) a, range(1000) b WHERE (a.range + b.range) % 7 = 3"
    threading.Timer(0.5, token.cancel).start()
    t0 = time.monotonic()
    with (
        cancel.scope(token),
        pytest.raises(cancel.JobCancelled),
        cancel.interrupting(con.interrupt),
    ):
        con.sql(sql).fetchall()
    assert time.monotonic() - t0 < 5.0
    # The connection stays usable, and its hook is gone: a later cancel does not reach it.
    assert con.sql("SELECT 1").fetchall() == [(1,)]
    assert token._hooks == []


def test_an_error_of_a_query_that_was_not_cancelled_stays_itself() -> None:
    con = duckdb.connect()
    with (
        cancel.scope(cancel.CancelToken()),
        pytest.raises(duckdb.Error),
        cancel.interrupting(con.interrupt),
    ):
        con.sql("SELECT * FROM no_such_table").fetchall()


def test_a_job_waiting_for_a_slow_batch_stops_without_it() -> None:
    from relgraph.sample import Prefetcher

    def slow() -> Iterator[int]:
        time.sleep(10)  # a first batch that compiles the sampler, say
        yield 1

    token = cancel.CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    with cancel.scope(token), pytest.raises(cancel.JobCancelled):
        next(iter(Prefetcher(slow(), depth=1)))
    assert time.monotonic() - t0 < 2.0
