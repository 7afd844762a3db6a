"""Schema inference on the corpus of real databases (tests/corpus), with no schema file.

The first test holds the real-databases issue's thresholds over the whole
corpus; the others are one regression test per failure class, each on a slice
of real data.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
import torch_frame

from relgraph import api
from relgraph.schema.derive import derive_time_columns
from relgraph.schema.infer import infer_schema, is_id_like
from relgraph.schema.overrides import apply_overrides
from relgraph.schema.types import DERIVED_TIME_COLUMN, Schema
from relgraph.schema.validate import validate
from relgraph.sources import open_source
from relgraph.testing.corpus import THRESHOLDS, Score, load_truth, score
from relgraph.testing.corpus_sources import CORPUS, corpus_dbs, source_uri


def _infer(uri: str) -> tuple[dict[str, pa.Table], Schema]:
    src = open_source(uri).read()
    return src.tables, infer_schema(src.tables, src.declared)


@pytest.fixture(scope="module")
def employees_uri(postgres_url: str) -> str:
    return source_uri(CORPUS, "employees", postgres_url)


def test_corpus_meets_the_thresholds(employees_uri: str) -> None:
    total: Score | None = None
    for db in corpus_dbs():
        uri = employees_uri if db == "employees" else source_uri(CORPUS, db, None)
        s = score(db, _infer(uri)[1], load_truth(CORPUS / db))
        total = s if total is None else total + s
    assert total is not None and len(corpus_dbs()) >= 8
    print(
        f"\ncorpus: link P {total.link_precision:.3f} R {total.link_recall:.3f}, "
        f"PK {total.pk_accuracy:.3f}, time {total.time_accuracy:.3f}"
    )
    for k, v in THRESHOLDS.items():
        assert getattr(total, k) >= v, (k, total.misses)


# 1. attribute dates are not event times ---------------------------------------
def test_root_entity_dates_are_attributes(employees_uri: str) -> None:
    _, sch = _infer(employees_uri)
    assert sch["employees"].time_column is None  # hire_date, birth_date
    assert sch["salaries"].time_column == "from_date"  # not the 9999-01-01 to_date
    why = {e.subject: e.detail for e in sch["employees"].explanations}
    assert "root entity" in why["not_time:hire_date"]
    assert "birth" in why["not_time:birth_date"]


def test_a_load_stamp_is_not_an_event_time(tmp_path: Path) -> None:
    folder = tmp_path / "flights"
    shutil.copytree(CORPUS / "openflights", folder)
    routes = pacsv.read_csv(folder / "routes.csv")
    stamp = pa.array(["2017-01-01 00:00:00"] * routes.num_rows)
    pacsv.write_csv(routes.append_column("last_load", stamp), folder / "routes.csv")
    _, sch = _infer(str(folder))
    assert sch["routes"].time_column is None
    why = {e.subject: e.detail for e in sch["routes"].explanations}
    assert "load stamp" in why["not_time:last_load"]


# 2. keys by name and by containment -----------------------------------------
def test_key_names_any_case_and_role_named_links() -> None:
    assert all(is_id_like(n) for n in ("Id", "ID", "AccountId", "park.key", "emp_no", "commit_sha"))
    _, flights = _infer(str(CORPUS / "openflights"))
    assert {(fk.column, fk.target) for fk in flights["routes"].foreign_keys} == {
        ("airline_id", "airlines"),
        ("source_airport_id", "airports"),
        ("destination_airport_id", "airports"),
    }
    _, git = _infer(str(CORPUS / "gitlog"))
    links = {(fk.column, fk.target) for fk in git["commits"].foreign_keys}
    assert links == {("author_id", "users"), ("committer_id", "users"), ("first_parent", "commits")}
    why = {e.subject: e for e in git["commits"].explanations}
    assert why["link:author_id"].rule == "containment"


def test_links_to_prefixed_tables_and_string_keys() -> None:
    _, conquest = _infer(str(CORPUS / "pokedex_conquest"))
    ranks = {(fk.column, fk.target) for fk in conquest["conquest_warrior_ranks"].foreign_keys}
    assert ranks == {("warrior_id", "conquest_warriors"), ("skill_id", "conquest_warrior_skills")}
    _, lahman = _infer(str(CORPUS / "lahman"))
    assert lahman["People"].primary_key == "playerID"
    # bbrefID repeats playerID on each row: an alias, not a self-link
    assert lahman["People"].foreign_keys == ()


def test_unlinked_integer_codes_are_not_numbers_and_are_doubted() -> None:
    # berries.natural_gift_type_id points at a `types` table the slice does not hold;
    # its small integers fit three other tables' keys, so no link is guessed.
    _, items = _infer(str(CORPUS / "pokedex_items"))
    berries = items["berries"]
    assert "natural_gift_type_id" not in {fk.column for fk in berries.foreign_keys}
    assert berries.column("natural_gift_type_id").stype.value == "categorical"
    why = {e.subject: e for e in berries.explanations}["code:natural_gift_type_id"]
    assert why.doubtful and "items.id" in why.detail and "foreign_keys:" in why.detail
    # A source that declares its links is not doubted; the code is still no number.
    _, dex = _infer(source_uri(CORPUS, "pokedex", None))
    why = {e.subject: e for e in dex["types"].explanations}["code:damage_class_id"]
    assert not why.doubtful and dex["types"].column("damage_class_id").stype.value == "categorical"
    # Calendar numbers under a key-like name stay numbers.
    _, lahman = _infer(str(CORPUS / "lahman"))
    assert lahman["Salaries"].column("yearID").stype.value == "numerical"
    # Declaring the target, as the explanation says, makes it a link.
    fixed = apply_overrides(
        items, {"tables": {"berries": {"foreign_keys": {"natural_gift_type_id": "items"}}}}
    )
    assert ("natural_gift_type_id", "items") in {
        (fk.column, fk.target) for fk in fixed["berries"].foreign_keys
    }
    assert fixed["berries"].column("natural_gift_type_id").stype.value == "id"


def test_integer_keys_whose_names_name_no_table_link_by_value_range() -> None:
    tables, deb = _infer(source_uri(CORPUS, "debian", None))
    links = {(t, fk.column, fk.target) for t, ts in deb.tables.items() for fk in ts.foreign_keys}
    assert {
        ("packages", "MaintainerId", "people"),
        ("uploads", "UploaderId", "people"),
        ("package_depends", "DependsOnId", "packages"),
    } <= links
    why = {e.subject: e for e in deb["uploads"].explanations}["link:UploaderId"]
    assert why.rule == "containment" and why.doubtful and "less likely: packages" in why.detail
    # Values that sit in the low part of every candidate's keys: no link is guessed.
    low = tables["uploads"].set_column(
        tables["uploads"].schema.get_field_index("UploaderId"),
        "UploaderId",
        pc.min_element_wise(tables["uploads"].column("UploaderId"), 100),
    )
    changed = infer_schema({**tables, "uploads": low})
    assert "UploaderId" not in {fk.column for fk in changed["uploads"].foreign_keys}
    code = {e.subject: e for e in changed["uploads"].explanations}["code:UploaderId"]
    assert code.doubtful and "people.PersonId" in code.detail


def test_r_rownames_is_not_the_key(tmp_path: Path) -> None:
    folder = tmp_path / "lahman"
    shutil.copytree(CORPUS / "lahman", folder)
    for f in folder.glob("*.csv"):
        t = pacsv.read_csv(f)
        rownames = pa.array(range(1, t.num_rows + 1), pa.int64())
        t = pa.table({"rownames": rownames, **{c: t.column(c) for c in t.column_names}})
        pacsv.write_csv(t, f)
    _, sch = _infer(str(folder))
    assert sch["People"].primary_key == "playerID"
    assert ("playerID", "People") in {(fk.column, fk.target) for fk in sch["Salaries"].foreign_keys}


# 3. orphans keep the link and are reported -----------------------------------
def test_an_orphan_keeps_the_link_and_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "items"
    shutil.copytree(CORPUS / "pokedex_items", folder)
    lines = (folder / "item_pockets.jsonl").read_text().splitlines()
    (folder / "item_pockets.jsonl").write_text("\n".join(lines[1:]) + "\n")  # pocket 1 gone
    tables, sch = _infer(str(folder))
    assert ("pocket_id", "item_pockets") in {
        (fk.column, fk.target) for fk in sch["item_categories"].foreign_keys
    }
    dangling = [f for f in validate(tables, sch).findings if f.kind == "dangling_fk"]
    assert [(f.table, f.column, f.examples) for f in dangling] == [
        ("item_categories", "pocket_id", (1,))
    ]


# 4. the root entity wins over a 1:1 extension ---------------------------------
def test_link_goes_to_the_root_entity_not_an_extension(tmp_path: Path) -> None:
    folder = tmp_path / "conquest"
    shutil.copytree(CORPUS / "pokedex_conquest", folder)
    species = pacsv.read_csv(folder / "pokemon_species.csv")
    legendary = pc.equal(species.column("is_legendary"), 1)
    ext = species.filter(legendary).select(["id"]).rename_columns(["pokemon_species_id"])
    pacsv.write_csv(ext, folder / "legendaries.csv")
    _, sch = _infer(str(folder))
    assert sch["legendaries"].primary_key == "pokemon_species_id"
    targets = {fk.column: fk.target for fk in sch["conquest_pokemon_stats"].foreign_keys}
    assert targets["pokemon_species_id"] == "pokemon_species"


# 5. composite keys and link tables ------------------------------------------
def test_composite_keys_and_link_tables(employees_uri: str) -> None:
    _, pokedex = _infer(str(CORPUS / "pokedex" / "pokedex.sqlite"))
    types = pokedex["pokemon_types"]
    assert types.primary_key is None and types.unique_key == ("pokemon_id", "slot")
    assert {fk.target for fk in types.foreign_keys} == {"pokemon", "types"}
    _, emp = _infer(employees_uri)  # declared in PostgreSQL, salaries is partitioned
    assert emp["salaries"].unique_key == ("emp_no", "from_date")
    assert "salaries_1985" not in emp.tables
    _, conquest = _infer(str(CORPUS / "pokedex_conquest"))
    m2m = conquest["conquest_episode_warriors"]
    assert m2m.primary_key is None and m2m.unique_key == ("episode_id", "warrior_id")
    assert len(m2m.foreign_keys) == 2


# 6. epoch-integer times ------------------------------------------------------
def test_epoch_integer_times_become_utc_timestamps() -> None:
    tables, sch = _infer(str(CORPUS / "gitlog"))
    spec = sch["commits"].time_spec
    assert spec is not None and (spec.kind, spec.date_column, spec.unit) == (
        "epoch",
        "author_time",
        "s",
    )
    assert validate(tables, sch).errors == []
    out = derive_time_columns(tables, sch)
    raw = tables["commits"].column("author_time")[0].as_py()
    got = out["commits"].column("author_time")[0].as_py()
    # naive UTC wall time, as every stored time
    assert (got - datetime(1970, 1, 1)).total_seconds() == raw
    assert sch["commit_parents"].time_spec is not None
    assert sch["commit_parents"].time_spec.via == "commit_sha"


# 7. overrides that fought back ------------------------------------------------
def test_time_null_on_an_inherited_table_leaves_no_derived_column() -> None:
    tables, sch = _infer(str(CORPUS / "gitlog"))
    assert sch["commit_parents"].time_column == DERIVED_TIME_COLUMN
    sch = apply_overrides(sch, {"tables": {"commit_parents": {"time": None}}})
    t = sch["commit_parents"]
    assert t.time_column is None and DERIVED_TIME_COLUMN not in t.column_names
    out = derive_time_columns(tables, sch)
    assert DERIVED_TIME_COLUMN not in out["commit_parents"].column_names
    assert any(e.rule == "schema file" for e in t.explanations)


def test_epoch_time_can_be_declared_in_a_schema_file() -> None:
    _, sch = _infer(str(CORPUS / "gitlog"))
    sch = apply_overrides(sch, {"tables": {"commits": {"time": {"epoch": "commit_time"}}}})
    spec = sch["commits"].time_spec
    assert spec is not None and (spec.kind, spec.date_column, spec.unit) == (
        "epoch",
        "commit_time",
        "s",
    )


# explained inference -----------------------------------------------------------
def test_every_choice_is_explained() -> None:
    res = api.read_and_infer(str(CORPUS / "openflights"))
    for t in res.schema.tables.values():
        subjects = {e.subject for e in t.explanations}
        if t.primary_key:
            assert "primary_key" in subjects, t.name
        for fk in t.foreign_keys:
            assert f"link:{fk.column}" in subjects, (t.name, fk.column)
    routes = {e.subject: e.detail for e in res.schema["routes"].explanations}
    assert "2 dangling" not in routes["link:source_airport_id"]  # \N is NULL, not dangling
    assert "airports.airport_id" in routes["link:source_airport_id"]


# 6. types: bytes and label lists ---------------------------------------------
def test_blob_and_bytea_are_binary_and_not_encoded(tmp_path: Path, postgres_url: str) -> None:
    import sqlite3

    import psycopg

    from relgraph.graph.features import build_features

    db = tmp_path / "pokedex.sqlite"
    shutil.copy(CORPUS / "pokedex" / "pokedex.sqlite", db)
    with sqlite3.connect(db) as con:  # a sprite per colour, as an app would store it
        con.execute("ALTER TABLE pokemon_colors ADD COLUMN sprite BLOB")
        con.execute("UPDATE pokemon_colors SET sprite = randomblob(64)")
    res = api.read_and_infer(str(db))
    assert res.schema["pokemon_colors"].column("sprite").stype.value == "binary"
    snap = api.ingest(str(db), workspace=tmp_path / "ws").snapshot
    build_features(snap, embedder=lambda texts: np.zeros((len(texts), 4), np.float32))
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("DROP TABLE IF EXISTS public.photos")
        con.execute("CREATE TABLE public.photos (id int PRIMARY KEY, img bytea)")
        con.execute(
            "INSERT INTO public.photos SELECT g, sha256(g::text::bytea) "
            "FROM generate_series(1, 50) g"
        )
    try:
        res = api.read_and_infer(postgres_url)
        assert res.schema["photos"].column("img").stype.value == "binary"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute("DROP TABLE public.photos")


def test_label_lists_are_multicategorical_and_encode(tmp_path: Path) -> None:
    from relgraph.graph.features import build_features

    folder = tmp_path / "flights"
    shutil.copytree(CORPUS / "openflights", folder)
    routes = pacsv.read_csv(folder / "routes.csv")
    equipment = pc.replace_substring(routes.column("equipment"), " ", "|")  # '320|321|319'
    routes = routes.set_column(routes.column_names.index("equipment"), "equipment", equipment)
    pacsv.write_csv(routes, folder / "routes.csv")
    res = api.read_and_infer(str(folder))
    assert res.schema["routes"].column("equipment").stype.value == "multicategorical"
    snap = api.ingest(str(folder), workspace=tmp_path / "ws").snapshot
    feats = build_features(snap, embedder=lambda texts: np.zeros((len(texts), 4), np.float32))
    assert "equipment" in feats.frames["routes"].col_names_dict[torch_frame.multicategorical]


def test_foreign_keys_in_a_schema_file_merge_unless_replace_is_asked() -> None:
    _, sch = _infer(str(CORPUS / "openflights"))
    merged = apply_overrides(sch, {"tables": {"routes": {"foreign_keys": {"airline_id": None}}}})
    assert {fk.column for fk in merged["routes"].foreign_keys} == {
        "source_airport_id",
        "destination_airport_id",
    }
    assert merged["routes"].column("airline_id").stype.value == "categorical"
    replaced = apply_overrides(
        sch,
        {
            "foreign_keys_mode": "replace",
            "tables": {"routes": {"foreign_keys": {"source_airport_id": "airports"}}},
        },
    )
    assert [fk.column for fk in replaced["routes"].foreign_keys] == ["source_airport_id"]


def test_setting_a_primary_key_reruns_link_inference(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "items"
    shutil.copytree(CORPUS / "pokedex_items", folder)
    # The pockets' key under a name that does not read as a key, after the label.
    rows = [json.loads(x) for x in (folder / "item_pockets.jsonl").read_text().splitlines()]
    (folder / "item_pockets.jsonl").write_text(
        "".join(json.dumps({"identifier": r["identifier"], "code": r["id"]}) + "\n" for r in rows)
    )
    res = api.read_and_infer(str(folder))
    assert "pocket_id" not in {fk.column for fk in res.schema["item_categories"].foreign_keys}
    (tmp_path / "s.yaml").write_text("tables:\n  item_pockets: {primary_key: code}\n")
    res = api.read_and_infer(str(folder), schema_file=tmp_path / "s.yaml")
    links = {(fk.column, fk.target) for fk in res.schema["item_categories"].foreign_keys}
    assert ("pocket_id", "item_pockets") in links
    assert res.report.errors == []


def test_written_schema_round_trips_and_replaces(tmp_path: Path) -> None:
    from relgraph.schema.overrides import load_overrides, schema_to_yaml

    res = api.read_and_infer(str(CORPUS / "gitlog"))
    path = tmp_path / "s.yaml"
    path.write_text(schema_to_yaml(res.schema))
    again = api.read_and_infer(str(CORPUS / "gitlog"), schema_file=path)
    assert load_overrides(path)["foreign_keys_mode"] == "replace"
    for name, t in res.schema.tables.items():
        u = again.schema[name]
        assert (u.primary_key, u.foreign_keys, u.time_column, u.time_spec) == (
            t.primary_key,
            t.foreign_keys,
            t.time_column,
            t.time_spec,
        ), name


# 8. an entity with no table of its own -------------------------------------------
def test_an_entity_table_is_derived_from_a_key_column(tmp_path: Path) -> None:
    folder = tmp_path / "git"
    shutil.copytree(CORPUS / "gitlog", folder)
    (folder / "users.parquet").unlink()  # only the commits name their authors
    (folder / "schema.yaml").write_text("entities: {authors: commits.author_id}\n")
    res = api.read_and_infer(str(folder))
    authors = res.schema["authors"]
    assert authors.primary_key == "author_id"
    n = len(set(res.source.tables["commits"].column("author_id").to_pylist()))
    assert res.source.tables["authors"].num_rows == n
    assert ("author_id", "authors") in {
        (fk.column, fk.target) for fk in res.schema["commits"].foreign_keys
    }
    snap = api.ingest(str(folder), workspace=tmp_path / "ws").snapshot
    task = api.compile_query(
        "PREDICT COUNT(commits.* VIA commits.author_id, 0, 90) > 0 FOR EACH authors.author_id",
        snapshot=snap,
    )
    assert task is not None


def test_a_bad_entity_reference_is_a_clear_error(tmp_path: Path) -> None:
    from relgraph.errors import SchemaError

    folder = tmp_path / "git"
    shutil.copytree(CORPUS / "gitlog", folder)
    (folder / "schema.yaml").write_text("entities: {authors: commits.author}\n")
    with pytest.raises(SchemaError, match="'author' is not a column of 'commits'"):
        api.read_and_infer(str(folder))


# 10. predictions written back into the source are not re-ingested -------------
def test_predictions_written_into_the_source_are_not_ingested(tmp_path: Path) -> None:
    from relgraph.predict.sinks import write_sql

    db = tmp_path / "pokedex.sqlite"
    shutil.copy(CORPUS / "pokedex" / "pokedex.sqlite", db)
    preds = pa.table(
        {
            "ENTITY": pa.array([1, 2, 3]),
            "PREDICTION": pa.array([0.1, 0.9, 0.5]),
            "MODEL_ID": pa.array(["m1"] * 3),
            "SNAPSHOT_ID": pa.array(["s1"] * 3),
        }
    )
    write_sql(preds, f"sqlite:///{db}", "m1")
    res = api.read_and_infer(str(db))
    assert "relgraph_predictions" not in res.schema.tables
    assert [(f.severity, f.kind, f.table) for f in res.report.findings] == [
        ("info", "skipped_table", "relgraph_predictions")
    ]


def test_words_ending_in_id_are_not_keys_and_id_any_case_is(tmp_path: Path) -> None:
    assert not any(is_id_like(n) for n in ("paid", "valid", "android", "Squid"))
    folder = tmp_path / "conquest"
    shutil.copytree(CORPUS / "pokedex_conquest", folder)
    warriors = pacsv.read_csv(folder / "conquest_warriors.csv")
    pacsv.write_csv(warriors.rename_columns(["Id", *warriors.column_names[1:]]),
                    folder / "conquest_warriors.csv")  # fmt: skip
    _, sch = _infer(str(folder))
    assert sch["conquest_warriors"].primary_key == "Id"
    assert ("warrior_id", "conquest_warriors") in {
        (fk.column, fk.target) for fk in sch["conquest_warrior_ranks"].foreign_keys
    }


def test_zoned_times_are_converted_to_utc_and_say_so(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folder = tmp_path / "git"
    shutil.copytree(CORPUS / "gitlog", folder)
    commits = pq.read_table(folder / "commits.parquet")
    secs = commits.column("author_time")
    zoned = pc.cast(pc.multiply(secs, 1_000_000), pa.timestamp("us", tz="America/New_York"))
    commits = commits.set_column(commits.column_names.index("author_time"), "author_time", zoned)
    pq.write_table(commits, folder / "commits.parquet")
    # Read from Parquet, the zoned column arrives as naive UTC already.
    tables, sch = _infer(str(folder))
    got = tables["commits"].column("author_time")[0].as_py()
    assert (got - datetime(1970, 1, 1)).total_seconds() == secs[0].as_py()
    # Handed over zoned (an Arrow table from another reader): converted, and said.
    tables = {n: pq.read_table(folder / f"{n}.parquet") for n in ("commits", "users")}
    sch = infer_schema(tables)
    assert sch["commits"].time_column == "author_time"
    why = next(e.detail for e in sch["commits"].explanations if e.subject == "time")
    assert "America/New_York converted to UTC" in why
    out = derive_time_columns(tables, sch)
    got = out["commits"].column("author_time")[0].as_py()
    assert got.tzinfo is None
    assert (got - datetime(1970, 1, 1)).total_seconds() == secs[0].as_py()


def test_text_times_with_utc_offsets_are_moved_to_utc_and_say_so(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    snap = api.ingest(source_uri(CORPUS, "debian", None), workspace=ws).snapshot
    uploads = snap.read_table("uploads")
    # The first upload's text is '1995-12-03T00:48:23-04:00': 04:48:23 UTC, not 00:48.
    assert uploads.column("UploadedAt")[0].as_py() == datetime(1995, 12, 3, 4, 48, 23)
    why = next(e.detail for e in snap.schema["uploads"].explanations if e.subject == "time")
    assert "UTC offsets in the text (-04:00, ...) converted to UTC" in why
    # Text without an offset is read as UTC, unchanged (F1's dates, the corpus' text dates).
    tables = {"t": pa.table({"id": [1, 2], "date": ["2009-03-29 06:00:00", "2009-04-05"]})}
    sch = infer_schema(tables)
    assert sch["t"].time_column == "date"
    got = derive_time_columns(tables, sch)["t"].column("date").to_pylist()
    assert got == [datetime(2009, 3, 29, 6), datetime(2009, 4, 5)]
