#!/usr/bin/env python3
"""Two spindle binaries over the TPC-H queries, A/B, interleaved query by query.

usage: scripts/bench/tpch_ab.py A B --data DIR [--rounds 6] [--workers 2] [--queries 1,3]

On this kind of machine (2 shared vCPUs) a whole 22-query run moves by 10-20% from one
run to the next, more than most changes are worth; running A and B back to back on each
query, and swapping which goes first from query to query and round to round, lets both
see the same drift. Each `spindle run` is timed from start to exit (wall) and under
`perf stat -e task-clock` (CPU of the run and its workers). Every answer is checked
against DuckDB's (answers/qNN.csv in DIR, made by scripts/bench/tpch.sh --data DIR); a
wrong or failed one stops the run. Prints each round's totals, then the means and
medians, and each query's B/A ratio of wall time summed over the rounds.
"""
import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import tpch  # noqa: E402  (scripts/tpch.py: the answer check)

# The job spec tpch.sh runs, from scripts/bench/tpch.py (a module name taken above).
_bench = importlib.util.spec_from_file_location("tpch_bench", Path(__file__).with_name("tpch.py"))
tpch_bench = importlib.util.module_from_spec(_bench)
_bench.loader.exec_module(tpch_bench)
spindle_spec = tpch_bench.spindle_spec


def timed_run(binary: str, spec: Path) -> tuple:
    """Wall seconds and CPU milliseconds of one `spindle run`."""
    t = time.perf_counter()
    run = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock", binary, "run", str(spec),
                          "--quiet", "--json"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(f"{binary} failed on {spec.name}: {run.stderr[-2000:]}")
    counted = [line for line in run.stderr.splitlines() if "task-clock" in line]
    if not counted:
        sys.exit(f"perf stat printed no task-clock (is perf installed?): {run.stderr[-500:]}")
    return wall, float(counted[0].split(",")[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--queries", default=",".join(str(i) for i in range(1, 23)))
    args = p.parse_args()
    if not (args.data / "answers").exists():
        p.error(f"no answers in {args.data}: make the data with scripts/bench/tpch.sh --data {args.data}")
    queries = [int(x) for x in args.queries.split(",")]
    binaries = (args.a, args.b)
    walls = {b: [] for b in binaries}
    cpus = {b: [] for b in binaries}
    per_query = {b: {n: 0.0 for n in queries} for b in binaries}
    with tempfile.TemporaryDirectory(prefix="spindle-tpch-ab-") as tmp:
        tmp = Path(tmp)
        for r in range(args.rounds):
            wall = {b: 0.0 for b in binaries}
            cpu = {b: 0.0 for b in binaries}
            for i, n in enumerate(queries):
                order = binaries if (r + i) % 2 == 0 else binaries[::-1]
                query = (args.data / "queries" / f"q{n:02}.sql").read_text()
                for b in order:
                    out = tmp / f"out{n:02}"
                    spec = tmp / f"q{n:02}.yaml"
                    spec.write_text(spindle_spec(args.data, query, out, args.workers))
                    w, c = timed_run(b, spec)
                    if tpch.compare(args.data / "answers" / f"q{n:02}.csv", out) != 0:
                        sys.exit(f"{b}: q{n:02} answered wrong")
                    wall[b] += w
                    cpu[b] += c
                    per_query[b][n] += w
            for b in binaries:
                walls[b].append(wall[b])
                cpus[b].append(cpu[b] / 1000)
            print(f"round {r + 1}: wall A {wall[args.a]:.2f} s, B {wall[args.b]:.2f} s; "
                  f"CPU A {cpu[args.a] / 1000:.2f} s, B {cpu[args.b] / 1000:.2f} s", flush=True)
    for name, b in (("A", args.a), ("B", args.b)):
        print(f"{name} {b}: wall mean {statistics.mean(walls[b]):.2f} s, median "
              f"{statistics.median(walls[b]):.2f} s; CPU mean {statistics.mean(cpus[b]):.2f} s, "
              f"median {statistics.median(cpus[b]):.2f} s")
    ahead = sum(wb < wa for wa, wb in zip(walls[args.a], walls[args.b]))
    print(f"B's wall total below A's in {ahead} of {args.rounds} rounds")
    print("B/A wall per query:", " ".join(
        f"q{n:02} {per_query[args.b][n] / per_query[args.a][n]:.2f}" for n in queries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
