from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import jobs as rgjobs
from relgraph.errors import JobError
from relgraph.jobs import PipelineSpec, downstream, topological_order

TWO_SOURCES = """
name: two
sources:
  a: {uri: a}
  b: {uri: b}
jobs:
  report: {type: python, function: "steps:emit", needs: [use_a, use_b]}
  use_b: {type: python, function: "steps:emit", needs: [ing_b]}
  use_a: {type: python, function: "steps:emit", needs: [ing_a]}
  ing_a: {type: ingest, source: a}
  ing_b: {type: ingest, source: b}
"""


def test_topological_order_puts_needs_first_and_keeps_spec_order() -> None:
    spec = PipelineSpec.from_yaml(TWO_SOURCES)
    assert topological_order(spec) == ["ing_a", "use_a", "ing_b", "use_b", "report"]
    assert downstream(spec, "ing_b") == ["use_b", "report"]


@pytest.mark.parametrize(
    ("jobs", "match"),
    [
        ("x: {type: python, needs: [y]}\n  y: {type: python, needs: [x]}", "cycle"),
        ("x: {type: python, needs: [nope]}", "needs 'nope'"),
        ("x: {type: frobnicate}", "unknown type 'frobnicate'"),
        ("x: {type: ingest, source: missing}", "source 'missing'"),
        ("x: {type: train, query: q1}", "query 'q1'"),
    ],
)
def test_bad_specs_are_refused_with_the_reason(jobs: str, match: str) -> None:
    with pytest.raises(JobError, match=match):
        PipelineSpec.from_yaml(f"jobs:\n  {jobs}\n")


def _statuses(result: object) -> dict[str, str]:
    return {j.name: j.status for j in result.jobs}  # type: ignore[attr-defined]


def test_runs_in_order_then_skips_then_reruns_only_dependents_of_a_change(
    csv_sources: Path, write_spec
) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(TWO_SOURCES)
    ws = csv_sources / "ws"
    first = rgjobs.run_pipeline(spec, workspace=ws, executor="local:2")
    assert first.ok, [(j.name, j.error) for j in first.jobs]
    assert set(_statuses(first).values()) == {"succeeded"}
    started = {j.name: j.started_at for j in first.jobs}
    finished = {j.name: j.finished_at for j in first.jobs}
    for job in first.jobs:
        for need in job.needs:
            assert finished[need] <= started[job.name], (need, job.name)

    # A file the source does not read (not data, not schema.yaml) changes nothing.
    (csv_sources / "a" / "NOTES.md").write_text("notes")
    second = rgjobs.run_pipeline(spec, workspace=ws, executor="local:2")
    assert set(_statuses(second).values()) == {"skipped"}
    assert {j.name: j.outputs for j in second.jobs} == {j.name: j.outputs for j in first.jobs}

    (csv_sources / "b" / "items.csv").write_text("itemId,price\n1,3.5\n2,4.5\n")
    third = rgjobs.run_pipeline(spec, workspace=ws, executor="local:2")
    assert _statuses(third) == {
        "ing_a": "skipped",
        "use_a": "skipped",
        "ing_b": "succeeded",
        "use_b": "succeeded",
        "report": "succeeded",
    }
    assert third.job("report").outputs["digest"] != first.job("report").outputs["digest"]


def test_changing_params_reruns_the_job_and_its_dependents_only(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    text = """
jobs:
  a: {type: python, function: "steps:emit", n: 3}
  b: {type: python, function: "steps:emit", n: 3, needs: [a]}
  c: {type: python, function: "steps:emit", n: 3}
"""
    ws = tmp_path / "ws"
    assert rgjobs.run_pipeline(write_spec(text), workspace=ws).ok
    changed = rgjobs.run_pipeline(
        write_spec(text.replace("n: 3, needs", "n: 4, needs")), workspace=ws
    )
    assert _statuses(changed) == {"a": "skipped", "b": "succeeded", "c": "skipped"}


def test_a_failure_blocks_dependents_and_retry_completes_them(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    flag = tmp_path / "fail.flag"
    flag.write_text("x")
    spec = write_spec(f"""
jobs:
  up: {{type: python, function: "steps:emit", fail_if_exists: "{flag}"}}
  mid: {{type: python, function: "steps:emit", needs: [up]}}
  down: {{type: python, function: "steps:emit", needs: [mid]}}
  other: {{type: python, function: "steps:emit"}}
""")
    ws = tmp_path / "ws"
    res = rgjobs.run_pipeline(spec, workspace=ws)
    assert not res.ok
    st = _statuses(res)
    assert st == {"up": "failed", "mid": "blocked", "down": "blocked", "other": "succeeded"}
    assert "planned failure" in (res.job("up").error or "")
    assert "job 'up'" in (res.job("mid").error or "") and "planned failure" in (
        res.job("mid").error or ""
    )
    assert res.job("down").error == res.job("mid").error  # the root cause, not a chain
    # The failed job left nothing in the outputs folder but its lock.
    assert not list((ws / "outputs" / "python").glob(f"*{res.job('up').input_hash[:24]}*"))

    flag.unlink()
    again = rgjobs.retry_job(res.job("up").id, workspace=ws)
    assert again.run_id == res.run_id
    assert _statuses(again) == {
        "up": "succeeded",
        "mid": "succeeded",
        "down": "succeeded",
        "other": "succeeded",
    }
    assert again.job("up").attempts == 2
    shown = rgjobs.show_job(again.job("up").id, workspace=ws)
    assert [e["status"] for e in shown["events"]] == [
        "pending",
        "queued",
        "running",
        "failed",
        "pending",
        "queued",
        "running",
        "succeeded",
    ]
    with pytest.raises(JobError, match="only failed, cancelled or blocked"):
        rgjobs.retry_job(again.job("up").id, workspace=ws)


def test_lineage_and_models_tables_record_what_made_what(tmp_path: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec("""
jobs:
  emb: {type: python, function: "steps:embeddings", n: 24}
  clu: {type: cluster, needs: [emb], k: 3}
  proj: {type: project, needs: [clu], methods: [pca]}
""")
    ws = tmp_path / "ws"
    res = rgjobs.run_pipeline(spec, workspace=ws)
    assert res.ok, [(j.name, j.error) for j in res.jobs]
    clu = rgjobs.show_job(res.job("clu").id, workspace=ws)
    emb_path = res.job("emb").outputs["embeddings"]
    assert {
        "from": f"embeddings:{emb_path}",
        "to": f"clusters:{res.job('clu').outputs['clusters']}",
    } in clu["lineage"]
    import pyarrow.parquet as pq

    proj = pq.read_table(ws / res.job("proj").outputs["projection"])
    assert proj.column_names == ["ENTITY", "pca_x", "pca_y", "pca_z", "cluster_label"]
    assert set(proj["cluster_label"].to_pylist()) == {"cluster_0", "cluster_1", "cluster_2"}


def test_ingest_labels_job_reports_unknown_keys(csv_sources: Path, write_spec) -> None:  # type: ignore[no-untyped-def]
    (csv_sources / "labels").mkdir()
    (csv_sources / "labels" / "churn.csv").write_text("userId,churned\n1,1\n2,0\n7,1\n")
    spec = write_spec("""
sources:
  a: {uri: a}
  churn: {uri: labels}
jobs:
  ingest: {type: ingest, source: a}
  labels: {type: ingest-labels, source: churn, needs: [ingest], table: users}
""")
    ws = csv_sources / "ws"
    res = rgjobs.run_pipeline(spec, workspace=ws)
    assert res.ok, [(j.name, j.error) for j in res.jobs]
    out = res.job("labels").outputs
    assert (out["label_rows"], out["unknown_keys"]) == (2, 1)
    import pyarrow.parquet as pq

    assert pq.read_table(ws / out["unknown_keys_file"])["userId"].to_pylist() == [7]
    shown = rgjobs.show_job(res.job("labels").id, workspace=ws)
    assert "1 label row(s) have keys not in table 'users'" in shown["logs"]
