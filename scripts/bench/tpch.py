#!/usr/bin/env python3
"""TPC-H side by side: spindle's query jobs against single-process DataFusion, DuckDB,
Spark local and Dask.

usage: scripts/bench/tpch.sh [--sf 1] [--workers 2] [--queries 1,3,5] [--spindle BIN]
                             [--peers datafusion,duckdb,spark,dask] [--data DIR] [--json PATH]

One run of each query per engine, on the same parquet files (DuckDB's dbgen, lineitem
and orders in 8 files). Each engine runs alone: spindle answers every query, then each
peer in --peers order is started, answers every query and is stopped (Spark's JVM ended)
before the next starts, so no engine's idle threads share the cores with another's
queries. The table is printed at the end, one line per query. Every engine's answer is checked against DuckDB's
(answers/qNN.csv, numbers to 1e-6 as scripts/tpch.py compares); a wrong one is marked
WRONG, a failed one ERROR, and either makes the exit status 1.

Times: spindle's is the `spindle run` process from start to exit (planning, workers,
output commit included). Each peer's is the query alone, in a warm session started once
before the first query, with the result collected into this process (DataFusion
`collect()`, DuckDB `fetchall()`, Spark `collect()`, Dask `compute()` to pandas);
turning the result into rows for the check is not timed. Each peer's start (session,
JVM, table registration) is printed once on its own line and is in no query's time.

Peers:
  datafusion  Python bindings, one SessionContext, the parquet dirs registered as tables.
  duckdb      one connection, a view over each table's parquet files.
  spark       pyspark, master local[2] (driver memory 4g, UI off, otherwise Spark's
              defaults, so AQE is on), one temp view per table over its parquet dir.
              Query texts are DuckDB's with one rewrite: the trailing `;` is dropped.
  dask        Dask DataFrame (threaded scheduler, 2 threads), the queries hand-written
              in scripts/bench/tpch_dask.py from the SQL texts (dask-sql's last release
              does not run with a current dask); the tables are opened with
              dd.read_parquet once, read on each query. A query with no hand-written
              version prints "not written".
Totals: each engine's sum over the queries it answered; the ratios spindle/PEER sum
spindle's times over the same queries only.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import tpch  # noqa: E402  (scripts/tpch.py; tpch_dask is found beside this file)

PEERS = ["datafusion", "duckdb", "spark", "dask"]


def spindle_spec(data: Path, query: str, out: Path, workers: int) -> str:
    lines = [f"name: tpch", f"workers: {{ instances: {workers} }}", "inputs:"]
    lines += [f"  {t}: {{ path: \"{data / t}\", format: parquet }}" for t in tpch.TABLES]
    lines.append("query: |")
    lines += ["  " + line for line in query.splitlines()]
    lines.append(f"output: {{ path: \"{out}\", format: csv, mode: overwrite }}")
    return "\n".join(lines) + "\n"


def cell(v):
    """One result value as tpch.rows_of reads it back from DuckDB's csv."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, datetime.datetime):  # pandas' Timestamp too
        return v.date().isoformat() if v.time() == datetime.time() else v.isoformat(" ")
    if isinstance(v, datetime.date):
        return v.isoformat()
    return tpch.normal(str(v))


def check(expected: Path, rows, who: str) -> bool:
    """tpch.compare on rows in memory: the same normalisation, order and tolerance."""
    want = sorted(tpch.rows_of([expected]), key=tpch.sort_key)
    got = sorted(([cell(x) for x in row] or [""] for row in rows), key=tpch.sort_key)
    if len(want) != len(got):
        print(f"{expected.name}: {who} has {len(got)} rows, DuckDB {len(want)}", file=sys.stderr)
        return False
    for i, (w, g) in enumerate(zip(want, got)):
        if len(w) != len(g) or not all(tpch.same(x, y) for x, y in zip(w, g)):
            print(f"{expected.name}: row {i} differs:\n  {who} {g}\n  duckdb {w}", file=sys.stderr)
            return False
    return True


class DataFusion:
    def start(self, data: Path) -> str:
        import datafusion
        self.ctx = datafusion.SessionContext()
        for t in tpch.TABLES:
            self.ctx.register_parquet(t, str(data / t))
        return f"datafusion {datafusion.__version__}: SessionContext, {len(tpch.TABLES)} tables registered"

    def run(self, n: int, query: str):
        t = time.perf_counter()
        batches = self.ctx.sql(query).collect()
        s = time.perf_counter() - t
        return s, [row for b in batches for row in zip(*(c.to_pylist() for c in b.columns))]


class DuckDB:
    def start(self, data: Path) -> str:
        import duckdb
        self.con = duckdb.connect()
        for t in tpch.TABLES:
            self.con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data / t}/*.parquet')")
        return f"duckdb {duckdb.__version__}: connection, {len(tpch.TABLES)} views"

    def run(self, n: int, query: str):
        t = time.perf_counter()
        rows = self.con.execute(query).fetchall()
        return time.perf_counter() - t, rows


def spark_text(query: str) -> str:
    """DuckDB's query text as Spark runs it: Spark's parser takes a single statement
    without the trailing `;`. Nothing else is rewritten."""
    return query.rstrip().rstrip(";")


class Spark:
    def start(self, data: Path) -> str:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, no lookup of the host's address
        import pyspark
        from pyspark.sql import SparkSession
        t = time.perf_counter()
        self.spark = (SparkSession.builder.master("local[2]").appName("spindle-tpch")
                      .config("spark.driver.memory", "4g")
                      .config("spark.driver.host", "127.0.0.1")
                      .config("spark.driver.bindAddress", "127.0.0.1")
                      .config("spark.ui.enabled", "false")
                      .config("spark.ui.showConsoleProgress", "false")
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")
        session = time.perf_counter() - t
        for name in tpch.TABLES:
            self.spark.read.parquet(str(data / name)).createOrReplaceTempView(name)
        return (f"spark {pyspark.__version__} local[2]: JVM + SparkSession {session:.1f}s, "
                f"{len(tpch.TABLES)} temp views")

    def run(self, n: int, query: str):
        text = spark_text(query)
        t = time.perf_counter()
        rows = self.spark.sql(text).collect()
        return time.perf_counter() - t, [tuple(r) for r in rows]

    def stop(self):
        """Stops the session and ends its JVM (`stop` alone leaves the JVM running)."""
        gateway = self.spark.sparkContext._gateway
        self.spark.stop()
        gateway.shutdown()
        gateway.proc.kill()
        gateway.proc.wait()


class Dask:
    def start(self, data: Path) -> str:
        import dask
        import tpch_dask
        dask.config.set(scheduler="threads", num_workers=2)
        self.tables = tpch_dask.open_tables(data)
        self.queries = tpch_dask.QUERIES
        return (f"dask {dask.__version__} DataFrame, threaded scheduler: {len(tpch.TABLES)} tables "
                f"opened, queries written: {','.join(str(q) for q in sorted(self.queries))}")

    def run(self, n: int, query: str):
        if n not in self.queries:
            return None
        t = time.perf_counter()
        df = self.queries[n](self.tables)
        s = time.perf_counter() - t
        return s, list(df.itertuples(index=False, name=None))


ENGINES = {"datafusion": DataFusion, "duckdb": DuckDB, "spark": Spark, "dask": Dask}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queries", default=",".join(str(i) for i in range(1, 23)))
    p.add_argument("--spindle", default=str(ROOT / "target/release/spindle"))
    p.add_argument("--peers", default=",".join(PEERS),
                   help=f"comma list of peers to run beside spindle (default {','.join(PEERS)})")
    p.add_argument("--data", type=Path, help="reuse (or keep) the generated data here")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    peers = [x for x in a.peers.split(",") if x]
    unknown = [x for x in peers if x not in PEERS]
    if unknown:
        p.error(f"unknown peer(s) {','.join(unknown)}; known: {','.join(PEERS)}")

    # Specs and outputs (and the data, without --data) go here; removed however the run ends.
    tmp = Path(tempfile.mkdtemp(prefix="spindle-tpch-"))
    try:
        return run_all(a, peers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_peer(engine, name: str, n: int, data: Path) -> dict:
    """Query `n` on a started peer: its time and whether its answer is DuckDB's."""
    query = (data / "queries" / f"q{n:02}.sql").read_text()
    try:
        got = engine.run(n, query)
    except Exception as e:  # a peer that cannot run a query is reported, not fatal
        print(f"q{n:02} {name}: {type(e).__name__}: {str(e)[:2000]}", file=sys.stderr)
        return {f"{name}_s": None, f"{name}_ok": False, f"{name}_note": "error"}
    if got is None:
        return {f"{name}_s": None, f"{name}_ok": None, f"{name}_note": "not written"}
    s, result = got
    good = check(data / "answers" / f"q{n:02}.csv", result, name)
    return {f"{name}_s": s, f"{name}_ok": good}


def run_all(a: argparse.Namespace, peers: list, tmp: Path) -> int:
    data = a.data or tmp / "data"
    if not (data / "answers").exists():
        t = time.perf_counter()
        tpch.gen(data, a.sf, 8)
        print(f"generated SF {a.sf} in {time.perf_counter() - t:.1f}s at {data}", file=sys.stderr)
    queries = [int(x) for x in a.queries.split(",")]
    rows = []
    for n in queries:
        query = (data / "queries" / f"q{n:02}.sql").read_text()
        answer = data / "answers" / f"q{n:02}.csv"
        out = tmp / f"out{n:02}"
        spec = tmp / f"q{n:02}.yaml"
        spec.write_text(spindle_spec(data, query, out, a.workers))
        t = time.perf_counter()
        run = subprocess.run([a.spindle, "run", str(spec), "--quiet", "--json"], capture_output=True, text=True)
        spindle_s = time.perf_counter() - t
        ok = run.returncode == 0 and tpch.compare(answer, out) == 0
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
        rows.append({"query": n, "spindle_s": spindle_s, "spindle_ok": ok})
    print(f"ran    spindle, {len(queries)} queries", flush=True)

    start_s = {}
    for name in peers:
        t = time.perf_counter()
        engine = ENGINES[name]()
        what = engine.start(data)
        start_s[name] = time.perf_counter() - t
        print(f"start  {name} {start_s[name]:.2f}s ({what})", flush=True)
        for row in rows:
            n = row["query"]
            row.update(run_peer(engine, name, n, data))
        if hasattr(engine, "stop"):
            engine.stop()
        print(f"ran    {name}, {len(queries)} queries, stopped", flush=True)

    for row in rows:
        n = row["query"]
        line = f"q{n:02}  spindle {row['spindle_s']:7.3f}s{'' if row['spindle_ok'] else ' WRONG'}"
        for name in peers:
            s = row.get(f"{name}_s")
            note = row.get(f"{name}_note")
            if note == "error":
                line += f"  {name}   ERROR "
            elif note == "not written":
                line += f"  {name} not written"
            else:
                line += f"  {name} {s:7.3f}s{'' if row[f'{name}_ok'] else ' WRONG'}"
        if row.get("datafusion_s"):
            line += f"  spindle/datafusion {row['spindle_s'] / row['datafusion_s']:5.2f}"
        print(line, flush=True)

    total = {"spindle_s": sum(r["spindle_s"] for r in rows)}
    ratios, coverage = {}, {}
    line = f"total  spindle {total['spindle_s']:.2f}s"
    for name in peers:
        ran = [r for r in rows if r.get(f"{name}_s") is not None]
        total[f"{name}_s"] = sum(r[f"{name}_s"] for r in ran)
        coverage[name] = [r["query"] for r in ran]
        line += f"  {name} {total[f'{name}_s']:.2f}s"
        if len(ran) < len(rows):
            line += f" ({len(ran)}/{len(rows)} queries)"
    for name in peers:
        ran = [r for r in rows if r.get(f"{name}_s") is not None]
        if ran and total[f"{name}_s"] > 0:
            ratios[f"spindle/{name}"] = sum(r["spindle_s"] for r in ran) / total[f"{name}_s"]
            line += f"  spindle/{name} {ratios[f'spindle/{name}']:.2f}"
    wrong = {"spindle": sum(not r["spindle_ok"] for r in rows)}
    wrong.update({name: sum(r.get(f"{name}_ok") is False for r in rows) for name in peers})
    line += "  wrong " + " ".join(f"{k} {v}" for k, v in wrong.items())
    print(line, flush=True)
    if a.json:
        a.json.write_text(json.dumps({
            "sf": a.sf, "workers": a.workers, "peers": peers, "start_s": start_s,
            "queries": rows, "total": total, "ratios": ratios, "queries_run": coverage,
            "wrong": wrong}, indent=2))
    return 0 if not any(wrong.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
