"""Schema inference on the bundled Formula 1 example: keys, links, time columns, types."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api
from relgraph.schema.infer import infer_schema
from relgraph.schema.types import DERIVED_TIME_COLUMN, Schema, SType
from relgraph.sources import FileSource

# The key relations listed in examples/f1/SOURCE.md.
EXPECTED_LINKS = {
    "races.circuitId -> circuits.circuitId",
    "results.raceId -> races.raceId",
    "results.driverId -> drivers.driverId",
    "results.constructorId -> constructors.constructorId",
    "results.statusId -> status.statusId",
    "qualifying.raceId -> races.raceId",
    "qualifying.driverId -> drivers.driverId",
    "qualifying.constructorId -> constructors.constructorId",
    "driver_standings.raceId -> races.raceId",
    "driver_standings.driverId -> drivers.driverId",
    "constructor_standings.raceId -> races.raceId",
    "constructor_standings.constructorId -> constructors.constructorId",
    "constructor_results.raceId -> races.raceId",
    "constructor_results.constructorId -> constructors.constructorId",
    "pit_stops.raceId -> races.raceId",
    "pit_stops.driverId -> drivers.driverId",
    "sprint_results.raceId -> races.raceId",
    "sprint_results.driverId -> drivers.driverId",
    "sprint_results.constructorId -> constructors.constructorId",
    "sprint_results.statusId -> status.statusId",
}

EXPECTED_PKS = {
    "circuits": "circuitId",
    "constructors": "constructorId",
    "drivers": "driverId",
    "races": "raceId",
    "results": "resultId",
    "qualifying": "qualifyId",
    "driver_standings": "driverStandingsId",
    "constructor_standings": "constructorStandingsId",
    "constructor_results": "constructorResultsId",
    "seasons": "year",
    "status": "statusId",
}


@pytest.fixture(scope="module")
def inferred(f1_dir: Path) -> Schema:
    """Inference alone, without the example's schema.yaml."""
    src = FileSource(f1_dir).read()
    return infer_schema(src.tables, src.declared)


@pytest.fixture(scope="module")
def with_overrides(f1_dir: Path) -> api.InferResult:
    return api.read_and_infer(str(f1_dir))


def test_links_precision_recall(inferred: Schema) -> None:
    found = {str(link) for link in inferred.links}
    true_pos = found & EXPECTED_LINKS
    precision = len(true_pos) / len(found) if found else 0.0
    recall = len(true_pos) / len(EXPECTED_LINKS)
    print(
        f"\nF1 link inference: precision {precision:.3f} ({len(true_pos)}/{len(found)}), "
        f"recall {recall:.3f} ({len(true_pos)}/{len(EXPECTED_LINKS)})"
    )
    assert found - EXPECTED_LINKS == set(), "false links"
    assert EXPECTED_LINKS - found == set(), "missed links"


def test_primary_keys(inferred: Schema) -> None:
    got = {n: t.primary_key for n, t in inferred.tables.items() if n in EXPECTED_PKS}
    assert got == EXPECTED_PKS
    # pit_stops has no single-column key (raceId, driverId, stop); none is invented.
    assert inferred["pit_stops"].primary_key is None


def test_time_columns(inferred: Schema, with_overrides: api.InferResult) -> None:
    races = inferred["races"]
    assert races.time_spec is not None
    assert (races.time_spec.kind, races.time_spec.date_column, races.time_spec.clock_column) == (
        "combine",
        "date",
        "time",
    )
    assert races.time_column == DERIVED_TIME_COLUMN
    for name in (
        "results",
        "driver_standings",
        "constructor_standings",
        "constructor_results",
        "pit_stops",
        "sprint_results",
        "qualifying",
    ):
        spec = inferred[name].time_spec
        assert spec is not None and (spec.kind, spec.via) == ("inherit", "raceId"), name
    # Dimension tables have no event time; a birth date is never one.
    for name in ("drivers", "circuits", "constructors", "status", "seasons"):
        assert inferred[name].time_column is None, name
    # The example's schema.yaml dates qualifying the day before its race.
    q = with_overrides.schema["qualifying"].time_spec
    assert q is not None and q.offset_seconds == -86400


def test_semantic_types(inferred: Schema) -> None:
    results = inferred["results"]
    assert results.column("driverId").stype is SType.id
    assert results.column("points").stype is SType.numerical
    assert results.column("positionText").stype is SType.categorical
    drivers = inferred["drivers"]
    assert drivers.column("dob").stype is SType.timestamp
    assert drivers.column("nationality").stype is SType.categorical
    assert drivers.column("url").stype is SType.text


def test_validation_of_f1_has_no_errors(with_overrides: api.InferResult) -> None:
    report = with_overrides.report
    assert report.errors == []
    assert {f.kind for f in report.warnings} <= {"mixed_type", "dangling_fk"}


def test_ingested_times_follow_the_races(f1_dir: Path, tmp_path: Path) -> None:
    snap = api.ingest(str(f1_dir), workspace=tmp_path / "ws").snapshot
    con = snap.duckdb()
    rows = con.execute(
        f"SELECT r.{DERIVED_TIME_COLUMN}, q.{DERIVED_TIME_COLUMN}, ra.{DERIVED_TIME_COLUMN}, "
        "ra.date, ra.time FROM results r JOIN races ra USING (raceId) "
        "JOIN qualifying q ON q.raceId = r.raceId AND q.driverId = r.driverId "
        "WHERE r.raceId = 1"
    ).fetchall()
    assert rows
    for res_t, q_t, race_t, date, clock in rows:
        assert res_t == race_t
        assert race_t.date() == date and race_t.time() == clock
        assert (race_t - q_t).days == 1
    # Every results row has a time (every race it points at exists and has a date).
    nulls = con.execute(f"SELECT count(*) FROM results WHERE {DERIVED_TIME_COLUMN} IS NULL")
    assert nulls.fetchall() == [(0,)]
