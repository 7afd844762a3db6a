"""Column documentation on a catalogue of real public databases, held out by database.

The catalogue (docs/document.md says how it is made and how big it is):
- the nine databases of the schema corpus (tests/corpus; employees is loaded into
  a throw-away PostgreSQL server);
- the Ergast F1 database (/work/shared/data/f1, or examples/f1);
- dbt-labs' jaffle_shop and jaffle-shop sample projects, when their git mirrors
  are given (--jaffle-classic, --jaffle-new): the seeds are the raw tables, the
  dbt models are run in DuckDB over them to give the model tables real data, and
  the models' SQL gives column lineage through sqlglot. The mirrors' files are
  read in place; none of them is copied into this repository.

Terms come from the written rules in ``TERM_RULES`` (first match wins), applied to
every column's name words and data; columns no rule matches stay unmapped and get
suggestions. Held out: whole databases (``TEST_DATABASES``), fixed before any run.

    python benchmarks/document.py                     # the catalogue, one line per model
    python benchmarks/document.py --scale 100000      # speed: a 100k-column graph
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.document.columns import ColumnProfile, name_tokens, profile_snapshot  # noqa: E402
from relgraph.document.graph import build_graph  # noqa: E402
from relgraph.document.lineage import LineageEdge, read_sql_scripts  # noqa: E402
from relgraph.document.run import _labels, evaluate, suggest  # noqa: E402
from relgraph.testing.corpus_sources import CORPUS, corpus_dbs, source_uri  # noqa: E402

# Fixed before the first run; never changed after looking at scores.
TEST_DATABASES = ("lahman", "openflights", "jaffle_shop", "pokedex_items")

Rule = tuple[str, str, Callable[[ColumnProfile, set[str]], bool]]


def _num(p: ColumnProfile) -> bool:
    return p.minimum is not None and not p.dtype.startswith("timestamp") and "date" not in p.dtype


def _has(words: set[str], *w: str) -> bool:
    return bool(words & set(w))


# (term, definition, rule on the profile and its name words). First match wins.
TERM_RULES: list[Rule] = [
    (
        "identifier",
        "the column that identifies a row of its table (its primary key)",
        lambda p, w: p.is_primary_key and (p.stype == "id" or _has(w, "id", "key", "code")),
    ),
    (
        "reference",
        "a column that points at another table's key (a foreign key)",
        lambda p, w: p.link_target is not None,
    ),
    ("email", "an e-mail address", lambda p, w: _has(w, "email", "mail")),
    ("url", "a web address", lambda p, w: _has(w, "url", "website", "link", "homepage")),
    ("phone", "a telephone number", lambda p, w: _has(w, "phone", "telephone", "fax")),
    ("latitude", "a latitude in degrees", lambda p, w: _has(w, "lat", "latitude")),
    ("longitude", "a longitude in degrees", lambda p, w: _has(w, "lng", "lon", "longitude")),
    ("altitude", "a height above sea level", lambda p, w: _has(w, "alt", "altitude", "elevation")),
    ("country", "a country (name or code)", lambda p, w: _has(w, "country", "nationality")),
    ("city", "a city or town", lambda p, w: _has(w, "city", "town", "location")),
    ("region", "a state, province or region", lambda p, w: _has(w, "state", "province", "region")),
    (
        "person_name",
        "a part of a person's name",
        lambda p, w: (
            (
                _has(w, "first", "last", "given", "family", "surname", "forename", "nick", "middle")
                and _has(w, "name")
            )
            or _has(w, "surname", "forename")
        ),
    ),
    ("birth_date", "a date of birth", lambda p, w: _has(w, "birth", "dob")),
    (
        "date",
        "a calendar date or timestamp",
        lambda p, w: (
            p.dtype.startswith(("timestamp", "date"))
            or _has(w, "date", "day", "created", "updated", "timestamp", "at")
        ),
    ),
    (
        "year",
        "a calendar year or season",
        lambda p, w: (
            _has(w, "year", "yr", "season")
            or (
                _num(p)
                and (p.minimum or 0) >= 1850
                and (p.maximum or 0) <= 2100
                and p.dtype.startswith("int")
                and _has(w, "from", "to", "since")
            )
        ),
    ),
    (
        "time_duration",
        "a clock time or a duration",
        lambda p, w: _has(w, "time", "duration", "milliseconds", "ms", "seconds", "lap"),
    ),
    (
        "money",
        "an amount of money",
        lambda p, w: _has(
            w,
            "salary",
            "price",
            "cost",
            "amount",
            "payment",
            "revenue",
            "cash",
            "total",
            "spend",
            "tax",
            "subtotal",
            "value",
        ),
    ),
    ("gender", "a sex or gender", lambda p, w: _has(w, "gender", "sex")),
    (
        "version_hash",
        "a version, revision or content hash",
        lambda p, w: _has(w, "hash", "sha", "version", "revision", "checksum"),
    ),
    (
        "description",
        "free text that describes the row",
        lambda p, w: (
            _has(
                w,
                "description",
                "desc",
                "comment",
                "notes",
                "note",
                "text",
                "summary",
                "flavor",
                "effect",
                "message",
                "body",
                "changelog",
            )
            or (p.mean_length or 0) > 60
        ),
    ),
    (
        "code",
        "a short code or abbreviation",
        lambda p, w: _has(
            w,
            "code",
            "abbrev",
            "abbreviation",
            "iata",
            "icao",
            "symbol",
            "ref",
            "identifier",
            "sku",
            "iso",
        ),
    ),
    (
        "name",
        "the name or title of a thing",
        lambda p, w: _has(w, "name", "title", "label", "nickname"),
    ),
    (
        "rank_order",
        "a position, rank or order in a sequence",
        lambda p, w: _has(
            w,
            "rank",
            "position",
            "pos",
            "order",
            "slot",
            "sequence",
            "seq",
            "number",
            "num",
            "no",
            "grid",
        ),
    ),
    (
        "count",
        "a count of things or events",
        lambda p, w: _has(
            w,
            "count",
            "wins",
            "losses",
            "games",
            "g",
            "w",
            "l",
            "hits",
            "runs",
            "laps",
            "stops",
            "votes",
            "quantity",
            "qty",
            "ab",
            "hr",
            "bb",
            "so",
        ),
    ),
    (
        "score_points",
        "points, a score or a rating",
        lambda p, w: _has(w, "points", "score", "rating", "pts", "power", "accuracy"),
    ),
    (
        "measurement",
        "a physical measure (height, weight, size, speed)",
        lambda p, w: _has(
            w,
            "height",
            "weight",
            "size",
            "speed",
            "length",
            "width",
            "distance",
            "capacity",
            "bmi",
            "stat",
        ),
    ),
    (
        "flag",
        "a yes/no indicator",
        lambda p, w: p.dtype == "bool" or _has(w, "is", "has", "flag", "active", "enabled"),
    ),
    (
        "status_category",
        "a category, type or status from a small set",
        lambda p, w: _has(w, "status", "type", "category", "kind", "class", "group", "tier"),
    ),
]


def assign_terms(profiles: list[ColumnProfile]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in profiles:
        words = set(name_tokens(p.column))
        for term, _, rule in TERM_RULES:
            if rule(p, words):
                out[p.key] = term
                break
    return out


# -- the jaffle shop projects: seeds + dbt models run in DuckDB -------------------------


def _render(sql: str) -> str:
    """dbt's Jinja with the few macros the jaffle shops use, rendered by jinja2."""
    import jinja2

    class _Dbt:
        @staticmethod
        def date_trunc(part: str, col: str) -> str:
            return f"date_trunc('{part}', {col})"

    env = jinja2.Environment()
    return env.from_string(sql).render(
        ref=lambda name: name,
        source=lambda _schema, name: name,
        config=lambda **_: "",
        cents_to_dollars=lambda col: f"({col} / 100)::numeric(16, 2)",
        dbt=_Dbt(),
    )


def jaffle(repo: Path, db: str, work: Path) -> tuple[Path, list[Path]] | None:
    """Seeds and materialised models of a jaffle shop as Parquet, and its rendered SQL files."""
    import duckdb

    if not (repo / "HEAD").exists() and not (repo / ".git").exists():
        return None
    import subprocess

    def git(*a: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(repo), *a], check=True, capture_output=True, text=True
        ).stdout

    files = git("ls-tree", "-r", "--name-only", "HEAD").split()
    out = work / db
    out.mkdir(parents=True)
    sqldir = work / f"{db}_sql"
    sqldir.mkdir()
    con = duckdb.connect()
    for f in files:
        if f.startswith("seeds/") and f.endswith(".csv"):
            name = Path(f).stem
            try:
                text = git("show", f"HEAD:{f}")
            except subprocess.CalledProcessError:  # a file too large for the mirror
                print(f"# {db}: {f} is absent from the mirror; left out", file=sys.stderr)
                continue
            if not text.strip():
                continue
            csv = work / f"{db}_{name}.csv"
            csv.write_text(text)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv_auto('{csv}')")
    models = [f for f in files if f.startswith("models/") and f.endswith(".sql")]
    import jinja2

    pending = {}
    for f in models:
        try:
            pending[Path(f).stem] = _render(git("show", f"HEAD:{f}"))
        except jinja2.TemplateError as e:  # a macro package the shop pulls in (dbt_date …)
            print(f"# {db}: {f} not rendered ({e}); left out", file=sys.stderr)
    written: list[Path] = []
    # Run models in dependency order: retry those whose inputs are missing.
    for _ in range(len(pending) + 1):
        for name, sql in list(pending.items()):
            try:
                con.execute(f"CREATE TABLE {name} AS {sql}")
            except duckdb.Error:
                continue
            p = sqldir / f"{name}.sql"
            p.write_text(sql)
            written.append(p)
            del pending[name]
    for (name,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        if name == "metricflow_time_spine":
            continue
        con.execute(f"COPY {name} TO '{out / (name + '.parquet')}' (FORMAT parquet)")
    return out, written


# -- the catalogue -----------------------------------------------------------------------


def catalogue(
    args: argparse.Namespace, stack: ExitStack
) -> tuple[list[ColumnProfile], dict[str, list[LineageEdge]]]:
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rg-doc-")))
    ws = work / "ws"
    profiles: list[ColumnProfile] = []
    lineage: dict[str, list[LineageEdge]] = {}
    pg: str | None = None
    for db in corpus_dbs(CORPUS):
        if db == "employees" and pg is None:
            from relgraph.testing.postgres import temporary_postgres

            pg = stack.enter_context(temporary_postgres())
        uri = source_uri(CORPUS, db, pg if db == "employees" else None)
        snap = api.ingest(uri, workspace=ws).snapshot
        profiles += profile_snapshot(snap, db)
    f1 = args.f1 if args.f1.is_dir() else REPO / "examples" / "f1"
    profiles += profile_snapshot(api.ingest(str(f1), workspace=ws).snapshot, "f1")
    for db, repo in (("jaffle_shop", args.jaffle_classic), ("jaffle_shop_new", args.jaffle_new)):
        got = jaffle(repo, db, work) if repo else None
        if got is None:
            print(f"# {db}: no mirror at {repo}; left out", file=sys.stderr)
            continue
        folder, scripts = got
        snap = api.ingest(str(folder), workspace=ws).snapshot
        ps = profile_snapshot(snap, db)
        profiles += ps
        schema = {t: [c.name for c in ts.columns] for t, ts in snap.schema.tables.items()}
        res = read_sql_scripts(scripts, dialect="duckdb", schema=schema)
        lineage[db] = res.edges
    return profiles, lineage


def run_catalogue(args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        t0 = time.perf_counter()
        if args.cache and args.cache.is_file():
            profiles, lineage = pickle.loads(args.cache.read_bytes())
        else:
            profiles, lineage = catalogue(args, stack)
            if args.cache:
                args.cache.write_bytes(pickle.dumps((profiles, lineage)))
        mapping = assign_terms(profiles)
        graph, unmatched = build_graph(profiles, lineage)
        y, terms, _ = _labels(graph, mapping)
        dbs = Counter(p.database for p in profiles)
        held = [d for d in TEST_DATABASES if d in dbs]
        n_test = sum(1 for p in profiles if p.database in held and p.key in mapping)
        print(
            f"catalogue: {len(dbs)} databases, {len(profiles)} columns, {len(mapping)} mapped "
            f"to {len(terms)} terms; held out {held} ({n_test} mapped columns); "
            f"edges { ({r: e.shape[1] // 2 for r, e in graph.edges.items()}) }; "
            f"lineage edges not matched {len(unmatched)}; built in {time.perf_counter() - t0:.1f}s"
        )
        if args.terms:
            print(
                "terms: "
                + ", ".join(f"{t} {c}" for t, c in Counter(mapping.values()).most_common())
            )
        lin = graph.edges["lineage"]
        has_lineage = np.zeros(graph.num_nodes, bool)
        has_lineage[lin[0]] = True
        runs = [
            evaluate(graph, y, held, seed=seed, subsets={"with a lineage edge": has_lineage})
            for seed in range(args.seeds)
        ]
        keys = ("top1", "top2", "macro_f1", "ece")
        for name in runs[0]:
            m = {k: float(np.mean([r[name][k] for r in runs])) for k in keys}
            sd = float(np.std([r[name]["top2"] for r in runs]))
            print(
                f"{name}: top-1 {m['top1']:.3f} top-2 {m['top2']:.3f} "
                f"macro-F1 {m['macro_f1']:.3f} ECE {m['ece']:.3f}  "
                f"(± {sd:.3f} top-2 over {len(runs)} seeds, n={int(runs[0][name]['n'])})"
            )


def run_scale(n: int) -> None:
    """A synthetic n-column catalogue made of real column names, timed end to end."""
    rng = np.random.default_rng(0)
    words = [
        "customer",
        "order",
        "id",
        "name",
        "date",
        "amount",
        "status",
        "code",
        "city",
        "country",
        "created",
        "at",
        "price",
        "total",
        "count",
        "email",
        "type",
        "first",
        "last",
        "year",
        "description",
        "rank",
        "points",
        "lat",
        "lng",
        "phone",
        "url",
    ]
    profiles: list[ColumnProfile] = []
    per_table = 12
    t0 = time.perf_counter()
    for i in range(n):
        t = i // per_table
        k = int(rng.integers(1, 4))
        col = "_".join(rng.choice(words, k))
        p = ColumnProfile(
            f"db{t // 50}",
            f"table_{t}",
            f"{col}_{i % per_table}",
            "int64",
            "numerical",
            rows=1000,
            null_share=float(rng.random() * 0.2),
            distinct_share=float(rng.random()),
            minimum=0.0,
            maximum=float(rng.integers(1, 10000)),
            patterns=["9"],
            sample=["1", "2"],
        )
        p.is_primary_key = i % per_table == 0
        if i % per_table == 1 and t > 0:
            p.link_target = f"table_{t - 1}"
        profiles.append(p)
    lineage = {
        f"db{t // 50}": [
            LineageEdge(
                f"table_{t}",
                profiles[t * per_table + 2].column,
                f"table_{t + 1}",
                profiles[(t + 1) * per_table + 2].column,
            )
        ]
        for t in range(0, n // per_table - 1, 2)
    }
    mapping = assign_terms(profiles)
    # Half the rule-mapped columns are known; the rest are to be suggested.
    mapping = {k: v for j, (k, v) in enumerate(mapping.items()) if j % 2 == 0}
    t1 = time.perf_counter()
    graph, _ = build_graph(profiles, lineage)
    y, terms, _ = _labels(graph, mapping)
    t2 = time.perf_counter()
    table = suggest(graph, y, terms)
    t3 = time.perf_counter()
    print(
        f"scale: {n} columns, {sum(e.shape[1] // 2 for e in graph.edges.values())} edges, "
        f"{len(mapping)} mapped; profiles {t1 - t0:.1f}s, graph+features {t2 - t1:.1f}s, "
        f"train+classify {t3 - t2:.1f}s ({table.num_rows} suggestions); total {t3 - t0:.1f}s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=0, help="time a synthetic catalogue of N columns")
    ap.add_argument("--f1", type=Path, default=Path("/work/shared/data/f1"))
    ap.add_argument(
        "--jaffle-classic", type=Path, default=Path("/work/.mirror/dbt-labs+jaffle_shop/repo")
    )
    ap.add_argument(
        "--jaffle-new", type=Path, default=Path("/work/.mirror/dbt-labs+jaffle-shop/repo")
    )
    ap.add_argument("--cache", type=Path, help="keep the profiled catalogue in this file")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--terms", action="store_true", help="print how many columns each term got")
    args = ap.parse_args()
    if args.scale:
        run_scale(args.scale)
    else:
        run_catalogue(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
