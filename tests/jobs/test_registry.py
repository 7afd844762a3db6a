"""One registry of job kinds: every surface derives its kinds and checks from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import relgraph.jobs as rgjobs
from relgraph.errors import JobError, JobParameterError
from relgraph.jobs import outputs, params, registry, spec
from relgraph.jobs.kinds import check_embeddings

ROOT = Path(__file__).resolve().parents[2]


def test_every_surface_takes_its_kinds_from_the_registry() -> None:
    assert set(spec.JOB_TYPES) == {n for n, k in registry.KINDS.items() if "pipeline" in k.surfaces}
    bound = registry.service_kinds(Path("unused"), lambda s: s)
    assert set(bound) == set(registry.names("service"))
    assert "python" not in bound and "label-stats" not in spec.JOB_TYPES
    # No second list of kind names in the package: a tuple/list/dict literal naming three
    # or more kinds appears only in the registry.
    names = "|".join(re.escape(n) for n in registry.KINDS)
    listing = re.compile(rf'"(?:{names})",\s*\n?\s*"(?:{names})",\s*\n?\s*"(?:{names})"')
    hits = [
        str(f.relative_to(ROOT))
        for f in (ROOT / "relgraph").rglob("*.py")
        if listing.search(f.read_text())
    ]
    assert hits == [], hits


def test_one_parameter_set_accepts_both_spellings() -> None:
    rest = registry.KINDS["predict"].parse({"model_id": "m-1"}, surface="service")
    pipe = registry.KINDS["predict"].parse({"model": "m-1"}, surface="pipeline")
    assert rest == pipe == params.PredictParams(model_id="m-1")
    # A pipeline's ingest: 'source' named the spec's source, 'uri' is what it resolved to.
    resolved = {"source": "shop", "uri": "/data/shop", "schema": "/data/s.yaml"}
    assert registry.KINDS["ingest"].parse(resolved, surface="pipeline") == params.IngestParams(
        uri="/data/shop", schema="/data/s.yaml"
    )
    assert registry.KINDS["ingest"].parse({"source": "/d"}, surface="service").uri == "/d"
    train = registry.KINDS["train"].parse(
        {"query": "q1", "query_text": "PREDICT x", "minutes": 1}, surface="pipeline"
    )
    assert (train.query, train.minutes) == ("PREDICT x", 1.0)


@pytest.mark.parametrize(
    ("kind", "raw", "surface", "message"),
    [
        ("ingest", {"source": "/d", "schema": "/etc/x"}, "service", "pipeline spec only"),
        ("embed", {"model_id": "m", "columns": ["a"]}, "service", "pipeline spec only"),
        ("embed", {"model": "m", "model_id": "n"}, "pipeline", "given twice"),
        ("pretrain", {"stepz": 3}, "pipeline", "unknown pretrain job parameter(s) ['stepz']"),
        ("train", {"query": "q", "budget": 3}, "pipeline", "'budget' must be a str, got int"),
        ("train", {"query": "q", "trials": 0}, "service", "'trials' must be at least 1"),
        ("cluster", {"k": 1}, "pipeline", "'k' must be within 2..100, got 1"),
        ("project", {"k": 0}, "service", "'k' must be within 1..50, got 0"),
        ("predict", {"model_id": "../../etc"}, "service", "must be an id"),
        ("python", {"function": "a:b"}, "service", "cannot run in the API"),
        ("label-stats", {"query": "q"}, "pipeline", "cannot run in a pipeline"),
        ("explain", {"top": 5}, "service", "model_id"),
        ("explain", {"model": "m", "top": 500}, "pipeline", "'top' must be within 1..100"),
        ("explain", {"model": "m", "model_kind": "svm"}, "service", "gnn or lightgbm"),
        ("train", {"query": "q", "exclude_seen": "maybe"}, "service", "auto, always, never"),
        ("train", {"query": "q", "warm_start": "../m"}, "service", "must be an id"),
        ("drift", {"old_snapshot": "x/../y"}, "service", "must be an id"),
        ("gc", {}, "service", "cannot run in the API"),
        ("export", {"model": "m"}, "service", "cannot run in the API"),
    ],
)
def test_bad_parameters_name_themselves(
    kind: str, raw: dict[str, object], surface: str, message: str
) -> None:
    with pytest.raises(JobParameterError) as e:
        registry.KINDS[kind].parse(raw, surface=surface)  # type: ignore[arg-type]
    assert message in e.value.message


def test_an_unknown_kind_lists_those_of_the_surface() -> None:
    with pytest.raises(JobParameterError, match="unknown job kind 'nope'; kinds: ingest"):
        registry.kind("nope", surface="service")
    with pytest.raises(JobError, match="unknown type 'label-stats'"):
        spec.PipelineSpec.from_yaml("jobs:\n  x: {type: label-stats, query: q}\n")


@pytest.mark.slow
def test_pipeline_outputs_are_listed_beside_the_services(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    """And a bad parameter in a spec fails its job, naming it (~20 s: a pipeline run)."""
    import pyarrow as pa

    spec_file = write_spec("""
jobs:
  emb: {type: python, function: "steps:embeddings", n: 12}
  clu: {type: cluster, needs: [emb], k: 3}
  bad: {type: cluster, needs: [emb], k: 3, kk: 2}
""")
    ws = tmp_path / "ws"
    res = rgjobs.run_pipeline(spec_file, workspace=ws)
    assert [res.job(n).status for n in ("emb", "clu", "bad")] == [
        "succeeded",
        "succeeded",
        "failed",
    ]
    assert "unknown cluster job parameter(s) ['kk']" in (res.job("bad").error or "")
    own = outputs.register_output(
        ws, "embeddings", pa.table({"ENTITY": [1, 2], "embedding": [[0.0], [1.0]]}), {}
    )
    listed = {o["id"]: o for o in outputs.list_outputs(ws, "embeddings")}
    emb_hash = Path(res.job("emb").outputs["embeddings"]).parent.name
    clu_hash = Path(res.job("clu").outputs["clusters"]).parent.name
    emb_id, clu_id = f"pipe-python-{emb_hash}", f"pipe-cluster-{clu_hash}"
    assert set(listed) == {own, emb_id, clu_id}
    assert listed[emb_id]["rows"] == 12 and listed[emb_id]["source"] == "pipeline"
    assert listed[clu_id]["job_type"] == "cluster"
    found = outputs.find_output(ws, emb_id, "embeddings")
    assert found.data == (ws / res.job("emb").outputs["embeddings"]).resolve()
    # A REST cluster job may read the pipeline's embeddings, not its cluster labels.
    check_embeddings(ws, emb_id)
    with pytest.raises(JobParameterError, match="has no embedding vectors"):
        check_embeddings(ws, clu_id)
    # An id that names no folder, or one outside the outputs, finds nothing.
    for bad in ("pipe-cluster-" + "0" * 24, "pipe-secrets-" + clu_hash):
        with pytest.raises(Exception, match="no embeddings"):
            outputs.find_output(ws, bad, "embeddings")


def test_upkeep_kinds_run_in_a_pipeline_and_not_over_rest(
    tmp_path: Path, write_spec, csv_sources: Path
) -> None:  # type: ignore[no-untyped-def]
    """gc and export-window write where the pipeline's job folder is, so REST has neither."""
    spec_file = write_spec(f"""
sources:
  a: {{uri: "{csv_sources / 'a'}"}}
jobs:
  ing: {{type: ingest, source: a}}
  plan: {{type: gc, needs: [ing], keep_last: 1}}
  win: {{type: export-window, needs: [ing], days: 30, file: window.csv}}
""")
    ws = tmp_path / "ws"
    res = rgjobs.run_pipeline(spec_file, workspace=ws)
    assert res.job("plan").status == "succeeded", res.job("plan").error
    win = res.job("win")
    assert win.status == "succeeded", win.error
    assert win.outputs["rows"] == 0 and win.outputs["files"] == 0  # no predictions yet
    assert (ws / win.outputs["window"]).is_file()
    assert (ws / "snapshots").is_dir()  # a plan deletes nothing
    from relgraph.jobs.registry import service_kinds

    assert not {"gc", "export-window", "export"} & set(service_kinds(ws))
