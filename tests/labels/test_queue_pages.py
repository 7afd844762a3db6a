"""Keyset pages of a stage's queue: every item once, in order, while labels are saved
(SQLite, and PostgreSQL through the ``meta_url`` server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relgraph.errors import LabelError
from relgraph.jobs.db import MetaDB
from relgraph.labels import LabelStore, Who
from relgraph.labels.store import encode_cursor

ANN = Who.of("ann")
N = 120


def _store(db: MetaDB, tmp_path: Path) -> LabelStore:
    ls = LabelStore(db, tmp_path)  # no snapshot: keys are not checked
    ls.create_project("q", table="t", key="id", schema={"classes": ["a", "b"]})
    ls.add_stage("q", "s", labelers=["ann"])
    # Few distinct priorities: most of the order is decided by the id tie-break.
    keys = [str(i) for i in range(N)]
    ls.add_items("q", "s", keys, priorities=[float(i % 4) for i in range(N)])
    return ls


def _walk(ls: LabelStore, *, done: bool | None, label_each_page: int, keyset: bool) -> list[str]:
    """Page through with pages of 11, labeling ``label_each_page`` items of each page
    just seen (so they leave the open queue) and one item not yet seen."""
    seen: list[str] = []
    after: str | None = None
    offset = 0
    while True:
        if keyset:
            page = ls.queue("q", "s", limit=11, after=after, done=done)
        else:
            page = ls.queue("q", "s", limit=11, offset=offset, done=done)
        keys = [it["key"] for it in page["items"]]
        seen += keys
        for k in [it["key"] for it in page["items"] if not it["done"]][:label_each_page]:
            ls.submit("q", "s", k, {"value": "a"}, who=ANN)
        ahead = [it["key"] for it in ls.queue("q", "s", limit=1000, done=False)["items"]]
        ahead = [k for k in ahead if k not in seen]
        if done is None and ahead:  # on the whole queue, labels ahead change nothing either
            ls.submit("q", "s", ahead[-1], {"value": "b"}, who=ANN)
        offset += len(keys)
        after = page["next"]
        if (keyset and after is None) or not keys:
            return seen


def _check(ls: LabelStore) -> None:
    order = [it["key"] for it in ls.queue("q", "s", limit=1000)["items"]]
    assert len(order) == N and sorted(order, key=lambda k: (int(k) % 4, int(k))) == order
    first = ls.queue("q", "s", limit=11)
    assert first["total"] == N and first["next"] is not None
    assert ls.queue("q", "s", limit=11, after=first["next"])["total"] is None

    # Open items, labeling those seen: an OFFSET page skips what the labels moved,
    # a keyset page does not.
    assert _walk(ls, done=False, label_each_page=5, keyset=True) == order
    done_now = {it["key"] for it in ls.queue("q", "s", limit=1000, done=True)["items"]}
    assert len(done_now) > 0
    # The whole queue, labels saved behind and ahead of the page: same order, once each.
    assert _walk(ls, done=None, label_each_page=2, keyset=True) == order


def test_keyset_pages_skip_and_repeat_nothing_while_labels_are_saved(tmp_path: Path) -> None:
    ls = _store(MetaDB.open(workspace=tmp_path), tmp_path)
    _check(ls)


def test_offset_pages_skip_items_while_labels_are_saved(tmp_path: Path) -> None:
    # Why keyset pages: the same walk by OFFSET loses items (the test above can fail).
    ls = _store(MetaDB.open(workspace=tmp_path), tmp_path)
    order = [it["key"] for it in ls.queue("q", "s", limit=1000)["items"]]
    seen = _walk(ls, done=False, label_each_page=5, keyset=False)
    assert len(seen) < len(order) and len(set(seen)) == len(seen)


def test_bad_tokens_and_mixed_paging_are_refused(tmp_path: Path) -> None:
    ls = _store(MetaDB.open(workspace=tmp_path), tmp_path)
    bad: list[Any] = ["nonsense!", "W10", encode_cursor(1.0, 3) + "x" * 300, "WyJhIiwxXQ"]
    for token in bad:
        with pytest.raises(LabelError, match="not a queue page token"):
            ls.queue("q", "s", after=token)
    with pytest.raises(LabelError, match="not both"):
        ls.queue("q", "s", after=encode_cursor(0.0, 1), offset=5)
    # offset alone still pages (and still counts)
    page = ls.queue("q", "s", limit=5, offset=N - 3)
    assert len(page["items"]) == 3 and page["total"] == N and page["next"] is None


def test_keyset_pages_on_postgres(tmp_path: Path, meta_url: str) -> None:
    db = MetaDB.open(meta_url)
    try:
        _check(_store(db, tmp_path))
    finally:
        db.dispose()
