"""Rebuild the schema corpus slices from the public sources (see each SOURCE.md).

Not run by the tests: the slices are committed. Kept so every slice can be
re-made and checked: ``python tests/corpus/make_corpus.py MIRRORS_DIR`` where
MIRRORS_DIR holds git clones named ``owner+name/repo`` of the repositories
listed in the SOURCE.md files. Each slice keeps referential integrity by
selecting rows of the fact tables first, then every row they point at.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def git_show(repo: Path, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{path}"], check=True, capture_output=True
    ).stdout.decode("utf-8-sig")


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def write_csv(path: Path, rows: list[dict[str, str]], fields: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in fields})


# -- veekun/pokedex (MIT) ------------------------------------------------------
POKEDEX_CORE = {
    # table: (primary key columns, {fk column: (target table, target column)})
    "regions": (["id"], {}),
    "generations": (["id"], {"main_region_id": ("regions", "id")}),
    "pokemon_colors": (["id"], {}),
    "pokemon_shapes": (["id"], {}),
    "pokemon_habitats": (["id"], {}),
    "growth_rates": (["id"], {}),
    "evolution_chains": (["id"], {}),
    "types": (["id"], {"generation_id": ("generations", "id")}),
    "abilities": (["id"], {"generation_id": ("generations", "id")}),
    "pokemon_species": (
        ["id"],
        {
            "generation_id": ("generations", "id"),
            "evolves_from_species_id": ("pokemon_species", "id"),
            "evolution_chain_id": ("evolution_chains", "id"),
            "color_id": ("pokemon_colors", "id"),
            "shape_id": ("pokemon_shapes", "id"),
            "habitat_id": ("pokemon_habitats", "id"),
            "growth_rate_id": ("growth_rates", "id"),
        },
    ),
    "pokemon": (["id"], {"species_id": ("pokemon_species", "id")}),
    "pokemon_types": (
        ["pokemon_id", "slot"],
        {"pokemon_id": ("pokemon", "id"), "type_id": ("types", "id")},
    ),
    "pokemon_abilities": (
        ["pokemon_id", "slot"],
        {"pokemon_id": ("pokemon", "id"), "ability_id": ("abilities", "id")},
    ),
}


def _sqlite_type(values: list[str]) -> str:
    nonempty = [v for v in values if v != ""]
    if nonempty and all(re.fullmatch(r"-?\d+", v) for v in nonempty):
        return "INTEGER"
    if nonempty and all(re.fullmatch(r"-?\d+(\.\d+)?", v) for v in nonempty):
        return "REAL"
    return "TEXT"


def make_sqlite(path: Path, tables: dict[str, list[dict[str, str]]], keys: dict | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    for name, rows in tables.items():
        cols = list(rows[0])
        types = {c: _sqlite_type([r[c] for r in rows]) for c in cols}
        parts = [f'"{c}" {types[c]}' for c in cols]
        if keys is not None:
            pk, fks = keys[name]
            parts.append("PRIMARY KEY (" + ", ".join(f'"{c}"' for c in pk) + ")")
            for c, (t, tc) in fks.items():
                parts.append(f'FOREIGN KEY ("{c}") REFERENCES "{t}" ("{tc}")')
        con.execute(f'CREATE TABLE "{name}" ({", ".join(parts)})')
        con.executemany(
            f'INSERT INTO "{name}" VALUES ({", ".join("?" for _ in cols)})',
            [
                [
                    None if r[c] == "" else (int(r[c]) if types[c] == "INTEGER" else r[c])
                    for c in cols
                ]
                for r in rows
            ],
        )
    con.commit()
    con.execute("VACUUM")
    con.close()


def pokedex(mirrors: Path) -> None:
    repo = mirrors / "veekun+pokedex" / "repo"

    def t(name: str) -> list[dict[str, str]]:
        return read_csv(git_show(repo, f"pokedex/data/csv/{name}.csv"))

    # 1. core species data as SQLite with the constraints of pokedex/db/tables.py
    core = {n: t(n) for n in POKEDEX_CORE}
    species = {r["id"] for r in core["pokemon_species"]}
    core["pokemon"] = [r for r in core["pokemon"] if r["species_id"] in species]
    make_sqlite(HERE / "pokedex" / "pokedex.sqlite", core, POKEDEX_CORE)

    # 2. the Pokemon Conquest tables as CSV files (no constraints)
    out = HERE / "pokedex_conquest"
    names = [
        "conquest_warriors",
        "conquest_warrior_archetypes",
        "conquest_kingdoms",
        "conquest_episodes",
        "conquest_episode_warriors",
        "conquest_warrior_skills",
        "conquest_warrior_ranks",
        "conquest_warrior_stats",
        "conquest_warrior_rank_stat_map",
        "conquest_warrior_specialties",
        "conquest_stats",
        "conquest_pokemon_stats",
        "genders",
        "types",
    ]
    for n in names:
        rows = t(n)
        write_csv(out / f"{n}.csv", rows, list(rows[0]))
    sp = t("pokemon_species")
    write_csv(out / "pokemon_species.csv", sp, ["id", "identifier", "is_legendary"])

    # 3. items and berries as JSON lines
    out = HERE / "pokedex_items"
    out.mkdir(exist_ok=True)
    for n in [
        "items",
        "item_categories",
        "item_pockets",
        "item_fling_effects",
        "berries",
        "berry_firmness",
    ]:
        rows = t(n)
        with (out / f"{n}.jsonl").open("w") as f:
            for r in rows:
                f.write(json.dumps({k: _json_value(v) for k, v in r.items()}) + "\n")


def _json_value(v: str) -> object:
    if v == "":
        return None
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    return v


# -- git history of veekun/pokedex (MIT) as Parquet ----------------------------
def gitlog(mirrors: Path) -> None:
    repo = mirrors / "veekun+pokedex" / "repo"
    fmt = "%H%x1f%P%x1f%ae%x1f%at%x1f%ce%x1f%ct%x1f%s%x1e"
    raw = subprocess.run(
        ["git", "-C", str(repo), "log", "--all", f"--format={fmt}"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8", "replace")

    def uid(email: str) -> str:
        # Opaque user ids: the slice keeps who-did-what, not anyone's address.
        return hashlib.sha1(email.strip().lower().encode()).hexdigest()[:12]

    commits, parents, users = [], [], {}
    for rec in raw.split("\x1e"):
        rec = rec.strip("\n")
        if not rec:
            continue
        sha, par, ae, at, ce, ct, subject = rec.split("\x1f")
        for e in (ae, ce):
            users.setdefault(uid(e), e.rsplit("@", 1)[-1].lower())
        ps = par.split()
        commits.append(
            {
                "sha": sha,
                "author_id": uid(ae),
                "committer_id": uid(ce),
                "first_parent": ps[0] if ps else None,
                "author_time": int(at),
                "commit_time": int(ct),
                "subject": subject,
            }
        )
        parents += [
            {"commit_sha": sha, "parent_sha": p, "parent_index": i} for i, p in enumerate(ps)
        ]
    out = HERE / "gitlog"
    out.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(commits), out / "commits.parquet")
    pq.write_table(pa.Table.from_pylist(parents), out / "commit_parents.parquet")
    pq.write_table(
        pa.Table.from_pylist([{"user_id": k, "email_domain": v} for k, v in sorted(users.items())]),
        out / "users.parquet",
    )


# -- Baseball Databank (CC BY-SA 3.0) --------------------------------------------
def lahman(mirrors: Path) -> None:
    repo = mirrors / "chadwickbureau+baseballdatabank" / "repo"

    def t(name: str) -> list[dict[str, str]]:
        return read_csv(git_show(repo, f"core/{name}.csv"))

    years = {"2014", "2015", "2016"}
    sal = [r for r in t("Salaries") if r["yearID"] in years]
    hof = [r for r in t("HallOfFame") if int(r["yearID"]) >= 2012]
    awards = [r for r in t("AwardsPlayers") if r["yearID"] in years]
    managers = [r for r in t("Managers") if r["yearID"] in years]
    teams = [r for r in t("Teams") if r["yearID"] in years]
    players = {r["playerID"] for r in sal + hof + awards + managers}
    people = [r for r in t("People") if r["playerID"] in players]
    franch = t("TeamsFranchises")
    out = HERE / "lahman"
    for name, rows in [
        ("People", people),
        ("Salaries", sal),
        ("HallOfFame", hof),
        ("AwardsPlayers", awards),
        ("Managers", managers),
        ("Teams", teams),
        ("TeamsFranchises", franch),
    ]:
        write_csv(out / f"{name}.csv", rows, list(rows[0]))

    # The parks side as a SQLite file built without any constraint (as from SQL scripts).
    home = [r for r in t("HomeGames") if int(r["year.key"]) >= 2000]
    parks_used = {r["park.key"] for r in home}
    parks = [r for r in t("Parks") if r["park.key"] in parks_used]
    make_sqlite(HERE / "lahman_parks" / "parks.sqlite", {"Parks": parks, "HomeGames": home}, None)


# -- OpenFlights (ODbL) ------------------------------------------------------------
OPENFLIGHTS = {
    # headers as documented on https://openflights.org/data.html, snake_cased
    "airports": "airport_id,name,city,country,iata,icao,latitude,longitude,altitude,timezone,"
    "dst,tz_database,type,source",
    "airlines": "airline_id,name,alias,iata,icao,callsign,country,active",
    "routes": "airline,airline_id,source_airport,source_airport_id,destination_airport,"
    "destination_airport_id,codeshare,stops,equipment",
    "countries": "name,iso_code,dafif_code",
    "planes": "name,iata,icao",
}


def openflights(mirrors: Path) -> None:
    repo = mirrors / "jpatokal+openflights" / "repo"
    data = {}
    for name, header in OPENFLIGHTS.items():
        data[name] = read_csv(header + "\n" + git_show(repo, f"data/{name}.dat"))
    keep = {"LH", "BA", "AF", "KL", "IB", "AY", "SK", "LX", "OS", "TP", "EI", "LO"}
    routes = [r for r in data["routes"] if r["airline"] in keep]
    ap_ids = {r["source_airport_id"] for r in routes} | {
        r["destination_airport_id"] for r in routes
    }
    al_ids = {r["airline_id"] for r in routes}
    airports = [r for r in data["airports"] if r["airport_id"] in ap_ids]
    airlines = [r for r in data["airlines"] if r["airline_id"] in al_ids]
    out = HERE / "openflights"
    for name, rows in [
        ("routes", routes),
        ("airports", airports),
        ("airlines", airlines),
        ("countries", data["countries"]),
    ]:
        write_csv(out / f"{name}.csv", rows, OPENFLIGHTS[name].split(","))


# -- employees sample database (CC BY-SA 3.0) as a PostgreSQL dump ---------------
_ROW_RE = re.compile(r"\(([^()]*)\)")


def _mysql_rows(text: str) -> list[list[str]]:
    rows = []
    for m in _ROW_RE.finditer(text):
        rows.append([v.strip().strip("'") for v in next(csv.reader([m.group(1)], quotechar="'"))])
    return rows


def employees(mirrors: Path) -> None:
    emp_repo = mirrors / "Ercion+python_aws_rds_mysql" / "repo"
    rest = mirrors / "HrishikeshKanabar+MySQL_STARTER_FILES" / "repo"
    base = mirrors / "datacharmer+test_db" / "repo"
    emp_text = git_show(emp_repo, "load_employees.dump")
    emp_text = emp_text[emp_text.index("INSERT INTO") :]
    emps = [r for r in _mysql_rows(emp_text) if len(r) == 6 and int(r[0]) <= 10600]
    ids = {r[0] for r in emps}
    depts = _mysql_rows(git_show(base, "load_departments.dump"))
    dept_emp = [r for r in _mysql_rows(git_show(rest, "load_dept_emp.dump")) if r[0] in ids]
    titles = [r for r in _mysql_rows(git_show(rest, "load_titles.dump")) if r[0] in ids]
    salaries = [r for r in _mysql_rows(git_show(rest, "load_salaries1.dump")) if r[0] in ids]
    # dept_manager is left out: its managers (emp_no 110022, ...) are past the
    # employees rows that the copies hold, so no slice keeps its links whole.

    def lit(v: str) -> str:
        return "'" + v.replace("'", "''") + "'"

    lines = [
        "-- employees sample database (datacharmer/test_db, CC BY-SA 3.0), a slice.",
        "-- salaries is partitioned by range of from_date, as in employees_partitioned.sql.",
        "CREATE TABLE employees (emp_no INT NOT NULL, birth_date DATE NOT NULL,",
        "  first_name VARCHAR(14) NOT NULL, last_name VARCHAR(16) NOT NULL,",
        "  gender CHAR(1) NOT NULL, hire_date DATE NOT NULL, PRIMARY KEY (emp_no));",
        "CREATE TABLE departments (dept_no CHAR(4) NOT NULL, dept_name VARCHAR(40) NOT NULL,",
        "  PRIMARY KEY (dept_no), UNIQUE (dept_name));",
    ]
    for t in ("dept_emp",):
        lines += [
            f"CREATE TABLE {t} (emp_no INT NOT NULL REFERENCES employees (emp_no),",
            "  dept_no CHAR(4) NOT NULL REFERENCES departments (dept_no),",
            "  from_date DATE NOT NULL, to_date DATE NOT NULL, PRIMARY KEY (emp_no, dept_no));",
        ]
    lines += [
        "CREATE TABLE titles (emp_no INT NOT NULL REFERENCES employees (emp_no),",
        "  title VARCHAR(50) NOT NULL, from_date DATE NOT NULL, to_date DATE,",
        "  PRIMARY KEY (emp_no, title, from_date));",
        "CREATE TABLE salaries (emp_no INT NOT NULL REFERENCES employees (emp_no),",
        "  salary INT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,",
        "  PRIMARY KEY (emp_no, from_date)) PARTITION BY RANGE (from_date);",
    ]
    for y in range(1985, 2003, 3):
        lines.append(
            f"CREATE TABLE salaries_{y} PARTITION OF salaries "
            f"FOR VALUES FROM ('{y}-01-01') TO ('{y + 3}-01-01');"
        )
    for table, rows in [
        ("employees", emps),
        ("departments", depts),
        ("dept_emp", dept_emp),
        ("titles", titles),
        ("salaries", salaries),
    ]:
        for i in range(0, len(rows), 500):
            chunk = rows[i : i + 500]
            lines.append(
                f"INSERT INTO {table} VALUES "
                + ",".join("(" + ",".join(lit(v) for v in r) + ")" for r in chunk)
                + ";"
            )
    out = HERE / "employees"
    out.mkdir(exist_ok=True)
    (out / "employees.sql").write_text("\n".join(lines) + "\n")


# -- this machine's Debian packages and their changelogs (DFSG-free metadata) -------
_UPLOAD_RE = re.compile(
    r"^(\S+) \(([^)]+)\) ([^;]+); urgency=(\w+)\n(.*?)^ -- ([^\n]+?)  ([^\n]+)$",
    re.S | re.M,
)


def debian(mirrors: Path) -> None:
    """Installed packages (dpkg) and every entry of their changelog.Debian.gz.

    People are kept as ids only (no names or e-mail addresses), numbered in the
    order of their first upload, as a site numbers users when they first act.
    """
    import gzip
    from datetime import UTC
    from email.utils import parsedate_to_datetime

    fmt = "${Package}\t${Section}\t${Priority}\t${Installed-Size}\t${Maintainer}\t${Depends}\n"
    listing = subprocess.run(
        ["dpkg-query", "-W", f"-f={fmt}"], check=True, capture_output=True, text=True
    ).stdout
    rows = sorted(line.split("\t") for line in listing.strip().splitlines())
    pkg_id = {r[0]: i for i, r in enumerate(rows, 1)}
    uploads: list[tuple] = []
    for name in pkg_id:
        try:
            log = Path("/usr/share/doc") / name / "changelog.Debian.gz"
            with gzip.open(log, "rt", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for m in _UPLOAD_RE.finditer(text):
            try:
                when = parsedate_to_datetime(m.group(7).strip())
            except (TypeError, ValueError):
                continue
            if when.tzinfo is None:  # "-0000": UTC, zone unknown
                when = when.replace(tzinfo=UTC)
            bugs = sorted({int(b) for b in re.findall(r"#(\d{4,7})", m.group(5))})
            lines = m.group(5).count("\n  *")
            head = (m.group(2), m.group(3), m.group(4), m.group(6))
            uploads.append((when, name, *head, lines, bugs))
    uploads.sort(key=lambda u: (u[0], u[1], u[2]))

    def email(who: str) -> str:
        found = re.search(r"<([^>]+)>", who)
        return (found.group(1) if found else who).strip().lower()

    people: dict[str, int] = {}
    for u in uploads:
        people.setdefault(email(u[5]), len(people) + 1)
    for r in rows:
        people.setdefault(email(r[4]), len(people) + 1)
    out = HERE / "debian"
    out.mkdir(exist_ok=True)
    db = out / "debian.sqlite"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE people (PersonId INTEGER PRIMARY KEY, IsTeam INTEGER);
        CREATE TABLE packages (PackageId INTEGER PRIMARY KEY, Name TEXT, Section TEXT,
          Priority TEXT, InstalledSizeKB INTEGER, MaintainerId INTEGER);
        CREATE TABLE uploads (UploadId INTEGER PRIMARY KEY, PackageId INTEGER, Version TEXT,
          Distribution TEXT, Urgency TEXT, UploadedAt TEXT, UploaderId INTEGER,
          ChangeLines INTEGER);
        CREATE TABLE package_depends (PackageId INTEGER, DependsOnId INTEGER);
        CREATE TABLE bug_closures (UploadId INTEGER, BugNumber INTEGER);
        """
    )
    team = re.compile(r"(lists\.|packages\.debian\.org|team|maintainers)")
    con.executemany(
        "INSERT INTO people VALUES (?, ?)",
        [(i, int(bool(team.search(e)))) for e, i in people.items()],
    )
    con.executemany(
        "INSERT INTO packages VALUES (?, ?, ?, ?, ?, ?)",
        [
            (pkg_id[r[0]], r[0], r[1] or None, r[2] or None, int(r[3]) if r[3] else None,
             people[email(r[4])])
            for r in rows
        ],
    )  # fmt: skip
    depends = set()
    for r in rows:
        for dep in r[5].split(","):
            target = dep.split("|")[0].strip().split(" ")[0].split(":")[0]
            if target in pkg_id:
                depends.add((pkg_id[r[0]], pkg_id[target]))
    con.executemany("INSERT INTO package_depends VALUES (?, ?)", sorted(depends))
    for i, u in enumerate(uploads, 1):
        con.execute(
            "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (i, pkg_id[u[1]], u[2], u[3], u[4], u[0].isoformat(), people[email(u[5])], u[6]),
        )
        con.executemany("INSERT INTO bug_closures VALUES (?, ?)", [(i, b) for b in u[7]])
    con.commit()
    con.execute("VACUUM")
    con.close()


if __name__ == "__main__":
    mirrors = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror")
    steps = (pokedex, gitlog, lahman, openflights, employees, debian)
    only = set(sys.argv[2:])
    for step in steps:
        if only and step.__name__ not in only:
            continue
        step(mirrors)
        print("made", step.__name__)
