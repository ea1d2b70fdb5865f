#!/usr/bin/env python3
"""TPC-H side by side: spindle's query jobs against DuckDB and single-process DataFusion.

usage: scripts/bench/tpch.sh [--sf 1] [--workers 2] [--queries 1,3,5] [--spindle BIN]

One run of each query per engine, in the same process order for every query (spindle,
DataFusion, DuckDB), on the same parquet files (DuckDB's dbgen, lineitem and orders in
8 files). Every spindle answer is checked against DuckDB's; a wrong one is marked.
Times: spindle's is the `spindle run` process from start to exit (planning, workers,
output commit included); DataFusion's and DuckDB's are the query alone, in a warm
process, collected into memory.
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import tpch  # noqa: E402


def spindle_spec(data: Path, query: str, out: Path, workers: int) -> str:
    lines = [f"name: tpch", f"workers: {{ instances: {workers} }}", "inputs:"]
    lines += [f"  {t}: {{ path: \"{data / t}\", format: parquet }}" for t in tpch.TABLES]
    lines.append("query: |")
    lines += ["  " + line for line in query.splitlines()]
    lines.append(f"output: {{ path: \"{out}\", format: csv, mode: overwrite }}")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queries", default=",".join(str(i) for i in range(1, 23)))
    p.add_argument("--spindle", default=str(ROOT / "target/release/spindle"))
    p.add_argument("--data", type=Path, help="reuse (or keep) the generated data here")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    import datafusion
    import duckdb

    tmp = Path(tempfile.mkdtemp(prefix="spindle-tpch-"))
    data = a.data or tmp / "data"
    if not (data / "answers").exists():
        t = time.perf_counter()
        tpch.gen(data, a.sf, 8)
        print(f"generated SF {a.sf} in {time.perf_counter() - t:.1f}s at {data}", file=sys.stderr)
    ctx = datafusion.SessionContext()
    con = duckdb.connect()
    for t in tpch.TABLES:
        ctx.register_parquet(t, str(data / t))
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data / t}/*.parquet')")
    rows = []
    for n in [int(x) for x in a.queries.split(",")]:
        query = (data / "queries" / f"q{n:02}.sql").read_text()
        out = tmp / f"out{n:02}"
        spec = tmp / f"q{n:02}.yaml"
        spec.write_text(spindle_spec(data, query, out, a.workers))
        t = time.perf_counter()
        run = subprocess.run([a.spindle, "run", str(spec), "--quiet", "--json"], capture_output=True, text=True)
        spindle_s = time.perf_counter() - t
        ok = run.returncode == 0 and tpch.compare(data / "answers" / f"q{n:02}.csv", out) == 0
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
        t = time.perf_counter()
        ctx.sql(query).collect()
        datafusion_s = time.perf_counter() - t
        t = time.perf_counter()
        con.execute(query).fetchall()
        duckdb_s = time.perf_counter() - t
        rows.append({"query": n, "spindle_s": spindle_s, "spindle_ok": ok,
                     "datafusion_s": datafusion_s, "duckdb_s": duckdb_s})
        print(f"q{n:02}  spindle {spindle_s:7.3f}s{'' if ok else ' WRONG'}  "
              f"datafusion {datafusion_s:7.3f}s  duckdb {duckdb_s:7.3f}s  "
              f"spindle/datafusion {spindle_s / datafusion_s:5.2f}", flush=True)
    total = {k: sum(r[k] for r in rows) for k in ("spindle_s", "datafusion_s", "duckdb_s")}
    print(f"total  spindle {total['spindle_s']:.2f}s  datafusion {total['datafusion_s']:.2f}s  "
          f"duckdb {total['duckdb_s']:.2f}s  spindle/datafusion {total['spindle_s'] / total['datafusion_s']:.2f}  "
          f"spindle/duckdb {total['spindle_s'] / total['duckdb_s']:.2f}  "
          f"wrong {sum(not r['spindle_ok'] for r in rows)}")
    if a.json:
        a.json.write_text(json.dumps({"sf": a.sf, "workers": a.workers, "queries": rows, "total": total}, indent=2))
    if not a.data:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(r["spindle_ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
