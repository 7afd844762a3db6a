"""docs/graph.md's examples run as written (on a fresh workspace)."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_graph_docs_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "docs" / "graph.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "build_graph(snap)" in code and "TemporalSampler" in code
    code = code.replace("/tmp/rg-graph-doc", os.fspath(tmp_path / "ws"))
    monkeypatch.chdir(ROOT)  # the examples name examples/f1 relative to the repository
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/graph.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("RelGraph(node_types=17")
    assert printed[-1] == "[2, 2, 2]"
