"""``relgraph document`` on a tiny snapshot: suggestions for the unmapped columns, in Parquet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from relgraph import api
from relgraph.cli import app


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_document_cli_on_a_tiny_snapshot(tmp_path: Path) -> None:
    src = tmp_path / "shop"
    src.mkdir()
    _write(
        src / "customers.csv",
        ["customer_id", "first_name", "email", "city"],
        [[i, f"N{i}", f"u{i}@x.org", "Oslo" if i % 2 else "Rome"] for i in range(1, 21)],
    )
    _write(
        src / "orders.csv",
        ["order_id", "customer_id", "order_date", "total_price"],
        [[i, 1 + i % 20, f"2024-01-{1 + i % 28:02d}", i * 1.5] for i in range(1, 41)],
    )
    ws = tmp_path / "ws"
    api.ingest(str(src), workspace=ws)
    mapping = tmp_path / "mapping.csv"
    mapping.write_text(
        "column,term\n"
        "shop.customers.customer_id,identifier\nshop.orders.order_id,identifier\n"
        "shop.customers.email,email\nshop.customers.first_name,person_name\n"
        "shop.orders.customer_id,reference\n"
    )
    glossary = tmp_path / "glossary.csv"
    glossary.write_text(
        "term,definition,parent\nidentifier,row key,\nreference,points at a key,identifier\n"
        "email,an address,\nperson_name,a name,\n"
    )
    script = tmp_path / "mart.sql"
    script.write_text("CREATE TABLE mart AS SELECT c.city AS town FROM customers AS c;")
    out = tmp_path / "doc.parquet"
    res = CliRunner().invoke(
        app,
        [
            "document",
            "--mapping",
            str(mapping),
            "--glossary",
            str(glossary),
            "--sql",
            str(script),
            "--out",
            str(out),
            "--epochs",
            "30",
            "-w",
            str(ws),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["databases"] == ["shop"] and body["mapped"] == 5 and body["terms"] == 4
    # The script's only output table is not in the snapshot: its edge is reported, not dropped.
    assert body["lineage_edges_read"] == 1 and body["unmatched_lineage_count"] == 1
    table = pq.read_table(out)
    assert sorted(zip(table["table"].to_pylist(), table["column"].to_pylist(), strict=True)) == [
        ("customers", "city"),
        ("orders", "order_date"),
        ("orders", "total_price"),
    ]
    row = table.to_pylist()[0]
    assert row["term_1"] in {"identifier", "reference", "email", "person_name"}
    assert row["term_1"] != row["term_2"]
    assert 0 < row["probability_2"] <= row["probability_1"] <= 1


def test_document_cli_refuses_a_term_outside_the_glossary(tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.mkdir()
    _write(src / "t.csv", ["id", "name"], [[1, "a"], [2, "b"]])
    ws = tmp_path / "ws"
    api.ingest(str(src), workspace=ws)
    (tmp_path / "m.csv").write_text("column,term\ns.t.name,nme\n")
    (tmp_path / "g.csv").write_text("term,definition\nname,a name\n")
    res = CliRunner().invoke(
        app,
        [
            "document",
            "--mapping",
            str(tmp_path / "m.csv"),
            "--glossary",
            str(tmp_path / "g.csv"),
            "-w",
            str(ws),
            "--out",
            str(tmp_path / "o.parquet"),
        ],
    )
    assert res.exit_code != 0
    assert "not in the glossary" in res.output
    assert not (tmp_path / "o.parquet").exists()


def test_document_runs_as_a_pipeline_job_with_paths_relative_to_the_spec(tmp_path: Path) -> None:
    """The registry's 'document' kind: files named relative to the spec, output in its folder,
    and a second run skips until the mapping file's bytes change."""
    import relgraph.jobs as rgjobs

    src = tmp_path / "shop"
    src.mkdir()
    _write(
        src / "customers.csv",
        ["customer_id", "first_name", "email"],
        [[i, f"N{i}", f"u{i}@x.org"] for i in range(1, 21)],
    )
    _write(
        src / "orders.csv",
        ["order_id", "customer_id", "total_price"],
        [[i, 1 + i % 20, i * 1.5] for i in range(1, 41)],
    )
    (tmp_path / "mapping.csv").write_text(
        "column,term\nshop.customers.customer_id,identifier\nshop.orders.order_id,identifier\n"
        "shop.customers.email,email\n"
    )
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "workspace: ws\nsources:\n  shop: shop\njobs:\n"
        "  ing: {type: ingest, source: shop}\n"
        "  doc: {type: document, needs: [ing], mapping: mapping.csv, epochs: 20}\n"
    )
    first = rgjobs.run_pipeline(spec)
    doc = first.job("doc")
    assert doc.status == "succeeded", doc.error
    assert doc.outputs["mapped"] == 3 and doc.outputs["suggested"] > 0
    table = pq.read_table(tmp_path / "ws" / doc.outputs["suggestions"])
    assert ("orders", "customer_id") in set(
        zip(table["table"].to_pylist(), table["column"].to_pylist(), strict=True)
    )
    assert rgjobs.run_pipeline(spec).job("doc").status == "skipped"
    with (tmp_path / "mapping.csv").open("a") as f:
        f.write("shop.customers.first_name,person_name\n")
    again = rgjobs.run_pipeline(spec).job("doc")
    assert again.status == "succeeded" and again.outputs["mapped"] == 4
