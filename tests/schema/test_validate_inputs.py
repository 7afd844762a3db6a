"""Each kind of bad input gives a clear finding, and an error where the data is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api
from relgraph.errors import DataValidationError, SchemaError


def orders_csv(n: int = 40, *, bad: dict[int, str] | None = None) -> str:
    """``n`` orders; ``bad`` replaces whole rows (1-based) with the given CSV line."""
    lines = ["order_id,user_id,item_id,created_at"]
    for i in range(1, n + 1):
        line = f"{i},{1 + i % 3},{1 + i % 3},2024-03-{1 + i % 28:02d} 10:00:00"
        lines.append((bad or {}).get(i, line))
    return "\n".join(lines) + "\n"


def test_clean_shop_has_no_findings(make_shop) -> None:  # type: ignore[no-untyped-def]
    result = api.read_and_infer(str(make_shop(orders=orders_csv())))
    assert result.report.findings == []
    assert {str(link) for link in result.schema.links} == {
        "orders.user_id -> users.user_id",
        "orders.item_id -> items.item_id",
    }
    assert result.schema["orders"].time_column == "created_at"
    # A root entity keeps a sign-up date as its event time (not a hire date).
    assert result.schema["users"].time_column == "signup_date"


def test_dangling_foreign_key_is_reported_with_count_and_examples(
    make_shop,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = make_shop(
        orders=orders_csv(
            60, bad={7: "7,99,1,2024-03-07 10:00:00", 9: "9,98,1,2024-03-09 10:00:00"}
        )
    )
    result = api.ingest(str(folder), workspace=tmp_path / "ws")
    (finding,) = result.report.warnings
    assert (finding.kind, finding.table, finding.column) == ("dangling_fk", "orders", "user_id")
    assert finding.count == 2
    assert finding.examples == (99, 98)
    assert finding.row == 7
    assert "2 values with no row in 'users.user_id' (first at row 7: 99)" in finding.message
    # Nothing is dropped: the dangling rows are stored, their link is simply absent.
    assert result.snapshot.manifest.row_counts["orders"] == 60
    with pytest.raises(DataValidationError, match=r"'orders' column 'user_id' has 2 values") as e:
        api.ingest(str(folder), workspace=tmp_path / "ws2", strict=True)
    assert (e.value.table, e.value.column, e.value.row) == ("orders", "user_id", 7)
    assert not (tmp_path / "ws2" / "snapshots").exists() or not any(
        (tmp_path / "ws2" / "snapshots").iterdir()
    )


def test_duplicate_primary_key(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop(users="user_id,name\n1,Ada\n2,Bob\n2,Bo\n3,Cy\n")
    with pytest.raises(
        DataValidationError,
        match=r"table 'users' primary key 'user_id' has 1 duplicated values \(e\.g\. 2 at rows 2 "
        r"and 3\); fix the data, or set another primary_key",
    ) as e:
        api.ingest(str(folder), workspace=tmp_path / "ws")
    assert (e.value.table, e.value.column, e.value.row) == ("users", "user_id", 3)


def test_null_primary_key(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop(users="user_id,name\n1,Ada\n2,Bob\n\\N,Nobody\n3,Cy\n")
    with pytest.raises(
        DataValidationError,
        match=r"'users' primary key 'user_id' is NULL in 1 rows \(first at row 3\)",
    ) as e:
        api.ingest(str(folder), workspace=tmp_path / "ws")
    assert (e.value.table, e.value.column, e.value.row) == ("users", "user_id", 3)


def test_primary_key_can_be_switched_off(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop(users="user_id,name\n1,Ada\n2,Bob\n2,Bo\n3,Cy\n")
    (tmp_path / "s.yaml").write_text(
        "tables:\n  users: {primary_key: null}\n  orders: {foreign_keys: {item_id: items}}\n"
    )
    result = api.ingest(str(folder), workspace=tmp_path / "ws", schema_file=tmp_path / "s.yaml")
    assert result.snapshot.schema["users"].primary_key is None


def test_bad_timestamp_names_table_column_and_row(
    make_shop,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder = make_shop(orders=orders_csv(bad={12: "12,1,1,2024-13-45 10:00:00"}))
    with pytest.raises(
        DataValidationError,
        match=r"table 'orders' time column 'created_at' has 1 unparseable timestamps "
        r"\(first at row 12: '2024-13-45 10:00:00'\); expected ISO form",
    ) as e:
        api.ingest(str(folder), workspace=tmp_path / "ws")
    assert (e.value.table, e.value.column, e.value.row) == ("orders", "created_at", 12)


def test_mixed_types_are_a_warning(make_shop) -> None:  # type: ignore[no-untyped-def]
    folder = make_shop(items="item_id,title,weight\n1,a,1.5\n2,b,2\n3,c,heavy\n")
    report = api.read_and_infer(str(folder)).report
    (finding,) = [f for f in report.findings if f.kind == "mixed_type"]
    assert (finding.table, finding.column, finding.row, finding.examples) == (
        "items",
        "weight",
        3,
        ("heavy",),
    )


def test_unknown_column_in_schema_file(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "s.yaml").write_text("tables:\n  users: {primary_key: uid}\n")
    with pytest.raises(SchemaError, match=r"primary key 'uid' is not a column; columns: user_id"):
        api.read_and_infer(str(make_shop()), schema_file=tmp_path / "s.yaml")


def test_time_column_that_is_not_a_time(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "s.yaml").write_text("tables:\n  items: {time: price}\n")
    with pytest.raises(
        DataValidationError, match=r"table 'items' time column 'price' has type double"
    ):
        api.ingest(str(make_shop()), workspace=tmp_path / "ws", schema_file=tmp_path / "s.yaml")


def test_inherited_time_keeps_rows_and_order(make_shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # reviews inherit their order's time; a dangling order gets a NULL time, no row is lost.
    reviews = "review_id,order_id,stars\n" + "".join(f"{i},{6 - i},{i % 5}\n" for i in range(1, 6))
    folder = make_shop(orders=orders_csv(5), reviews=reviews + "6,77,1\n")
    (tmp_path / "s.yaml").write_text(
        "tables:\n  reviews: {foreign_keys: {order_id: orders}, time: {inherit: order_id, "
        "offset: 2 hours}}\n"
    )
    snap = api.ingest(
        str(folder), workspace=tmp_path / "ws", schema_file=tmp_path / "s.yaml"
    ).snapshot
    got = snap.read_table("reviews").to_pylist()
    orders = {r["order_id"]: r["created_at"] for r in snap.read_table("orders").to_pylist()}
    assert [r["review_id"] for r in got] == [1, 2, 3, 4, 5, 6]
    import datetime as dt

    for r in got[:5]:
        assert r["_rg_time"] == orders[r["order_id"]] + dt.timedelta(hours=2)
    assert got[5]["_rg_time"] is None
