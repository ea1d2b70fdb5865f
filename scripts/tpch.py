#!/usr/bin/env python3
"""TPC-H data, queries and DuckDB's answers, for checking spindle's query jobs.

usage:
  tpch.py gen OUT [--sf 0.01] [--files 4]   tables as parquet (OUT/<table>/part-N.parquet,
                                            big tables in --files pieces), the 22 queries
                                            (OUT/queries/qNN.sql) and DuckDB's answers
                                            (OUT/answers/qNN.csv)
  tpch.py compare EXPECTED.csv ACTUAL_DIR   the rows of every csv in ACTUAL_DIR equal
                                            EXPECTED's, as multisets, numbers to 1e-6

Needs duckdb and duckdb-extension-tpch (the same version) from PyPI; scripts/test.sh
installs them into target/tools/duckdb.
"""
import argparse
import csv
import glob
import math
import sys
from pathlib import Path

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]


def connect():
    import duckdb
    found = glob.glob(sys.prefix + "/lib/python3*/site-packages/duckdb_extension_tpch/extensions/*/tpch.duckdb_extension")
    if not found:
        sys.exit("tpch.py: duckdb-extension-tpch is not installed in " + sys.prefix)
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{found[0]}'")
    return con


def gen(out: Path, sf: float, files: int) -> None:
    con = connect()
    con.execute(f"CALL dbgen(sf={sf})")
    for table in TABLES:
        (out / table).mkdir(parents=True, exist_ok=True)
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        pieces = files if rows > 10_000 else 1
        per = math.ceil(rows / pieces)
        for i in range(pieces):
            con.execute(f"COPY (SELECT * FROM {table} LIMIT {per} OFFSET {i * per}) "
                        f"TO '{out / table / f'part-{i}.parquet'}' (FORMAT parquet)")
    (out / "queries").mkdir(exist_ok=True)
    (out / "answers").mkdir(exist_ok=True)
    for number, query in con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall():
        (out / "queries" / f"q{number:02}.sql").write_text(query)
        answer = out / "answers" / f"q{number:02}.csv"
        con.execute(f"COPY ({query.rstrip().rstrip(';')}) TO '{answer}' (HEADER, DELIMITER ',')")


def normal(field: str):
    try:
        return float(field)
    except ValueError:
        return field


def rows_of(paths) -> list:
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            next(reader, None)  # header: the engines name computed columns differently
            # A lone null prints as an empty line in one engine and `""` in another.
            rows.extend([normal(x) for x in row] or [""] for row in reader)
    return rows


def sort_key(row):
    return [("n", round(x, 2)) if isinstance(x, float) else ("s", x) for x in row]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def compare(expected: Path, actual_dir: Path) -> int:
    want = sorted(rows_of([expected]), key=sort_key)
    got = sorted(rows_of(sorted(actual_dir.glob("*.csv"))), key=sort_key)
    if len(want) != len(got):
        print(f"{expected.name}: {len(got)} rows, DuckDB has {len(want)}")
        return 1
    for i, (w, g) in enumerate(zip(want, got)):
        if len(w) != len(g) or not all(same(x, y) for x, y in zip(w, g)):
            print(f"{expected.name}: row {i} differs:\n  spindle {g}\n  duckdb  {w}")
            return 1
    print(f"{expected.name}: {len(got)} rows equal")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("out", type=Path)
    g.add_argument("--sf", type=float, default=0.01)
    g.add_argument("--files", type=int, default=4)
    c = sub.add_parser("compare")
    c.add_argument("expected", type=Path)
    c.add_argument("actual", type=Path)
    a = p.parse_args()
    if a.cmd == "gen":
        gen(a.out, a.sf, a.files)
        return 0
    return compare(a.expected, a.actual)


if __name__ == "__main__":
    sys.exit(main())
