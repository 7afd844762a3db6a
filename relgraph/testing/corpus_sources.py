"""Open every database of the schema corpus as a relgraph source (PostgreSQL dumps loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

from relgraph.schema.infer import infer_schema
from relgraph.schema.types import Schema
from relgraph.sources import open_source
from relgraph.testing.corpus import load_truth
from relgraph.testing.postgres import load_sql, temporary_postgres

CORPUS = Path(__file__).resolve().parents[2] / "tests" / "corpus"


def corpus_dbs(corpus: Path = CORPUS) -> list[str]:
    return sorted(p.name for p in corpus.iterdir() if (p / "truth.yaml").is_file())


def source_uri(corpus: Path, db: str, postgres_url: str | None) -> str:
    """The URI relgraph reads ``db`` from; a ``.sql`` dump is loaded into PostgreSQL first."""
    src = str(load_truth(corpus / db).get("source", "."))
    path = corpus / db / src
    if path.suffix == ".sql":
        if postgres_url is None:
            raise ValueError(f"{db} is a PostgreSQL dump: a server URL is needed")
        return load_sql(postgres_url, f"corpus_{db}", path.read_text())
    return str(path)


def corpus_schemas(
    corpus: Path = CORPUS, postgres_url: str | None = None
) -> Iterator[tuple[str, Schema]]:
    """(db, inferred schema) for every corpus database, with no schema file."""
    with ExitStack() as stack:
        for db in corpus_dbs(corpus):
            src_path = corpus / db / str(load_truth(corpus / db).get("source", "."))
            if src_path.suffix == ".sql" and postgres_url is None:
                postgres_url = stack.enter_context(temporary_postgres())
            src = open_source(source_uri(corpus, db, postgres_url)).read()
            yield db, infer_schema(src.tables, src.declared)
