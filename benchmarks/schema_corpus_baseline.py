"""The corpus scores of another relgraph checkout's inference (a before/after baseline).

Run from outside the worktree so that ``import relgraph`` finds the other
checkout (e.g. the shared venv's editable install of main); the corpus, the
truth files and the scorer are loaded from this worktree by path:

    cd /tmp && python /path/to/worktree/benchmarks/schema_corpus_baseline.py
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import relgraph
from relgraph.schema.infer import infer_schema
from relgraph.sources import open_source

HERE = Path(__file__).resolve().parents[1]


def _load(name: str) -> ModuleType:
    """A module of this worktree's relgraph/testing, loaded by path under another name."""
    spec = importlib.util.spec_from_file_location(
        f"rgcorpus.{name}", HERE / "relgraph" / "testing" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    corpus, pg = _load("corpus"), _load("postgres")
    root = HERE / "tests" / "corpus"
    print("inference from", relgraph.__file__)
    total = None
    with pg.temporary_postgres() as url:
        for db in sorted(p.name for p in root.iterdir() if (p / "truth.yaml").is_file()):
            truth = corpus.load_truth(root / db)
            path = root / db / str(truth.get("source", "."))
            sql = path.suffix == ".sql"
            uri = pg.load_sql(url, f"corpus_{db}", path.read_text()) if sql else str(path)
            src = open_source(uri).read()
            s = corpus.score(db, infer_schema(src.tables, src.declared), truth)
            total = s if total is None else total + s
            print(
                f"{db:18} link P {s.link_precision:.3f} R {s.link_recall:.3f} "
                f"PK {s.pk_accuracy:.3f} time {s.time_accuracy:.3f}"
            )
    assert total is not None
    print(
        f"{'overall':18} link P {total.link_precision:.3f} R {total.link_recall:.3f} "
        f"PK {total.pk_accuracy:.3f} time {total.time_accuracy:.3f}"
    )


if __name__ == "__main__":
    main()
