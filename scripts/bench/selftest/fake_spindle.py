#!/usr/bin/env python3
"""A stand-in for the spindle binary, for testing the harness only (selftest.sh).

It implements the command-line contract bench.py relies on -- `bench tasks ... --json`,
`run SPEC --workers N --summary-json PATH`, `--version`, `--help` -- by running the spec's
sql stages with DuckDB in one process. Its timings mean nothing; bench.py is never pointed
at it except by selftest.sh (which does not touch BENCHMARKS.md).
FAKE_SPINDLE_WRONG=1 truncates the output, FAKE_SPINDLE_FAIL=1 fails the job.
"""
import json
import os
import sys
import time

import duckdb
import yaml

a = sys.argv[1:]
if a == ["--version"]:
    print("spindle 0.0.0 (fake, scripts/bench/selftest)")
    sys.exit(0)
if a[:2] == ["bench", "tasks"]:
    if "--help" in a:
        print("Usage: spindle bench tasks --tasks N --workers N [--tree] [--json]")
        sys.exit(0)
    n = int(a[a.index("--tasks") + 1])
    t = time.perf_counter()
    total = sum(i + 1 for i in range(n))
    s = time.perf_counter() - t
    n_tasks = n - 1 if "--tree" in a else n  # like TaskGraph::tree_reduction(n): n/2 leaves, ~n tasks
    print("worker 0 ready")  # noise before the JSON line, as a real binary may print
    print(json.dumps({"tasks": n_tasks, "seconds": s, "tasks_per_s": n_tasks / max(s, 1e-9), "checksum": total}))
    sys.exit(0)
if a[:1] == ["run"]:
    if "--help" in a:
        print("Usage: spindle run SPEC [--workers N] [--summary-json PATH]")
        sys.exit(0)
    spec = yaml.safe_load(open(a[1]))
    summary_path = a[a.index("--summary-json") + 1]
    t = time.perf_counter()
    if os.environ.get("FAKE_SPINDLE_FAIL"):
        json.dump({"job": spec["name"], "status": "failed", "error": "stage 2: fake failure"}, open(summary_path, "w"))
        print("error: job failed", file=sys.stderr)
        sys.exit(1)
    src = spec["input"]["path"].removeprefix("file://")
    reader = (f"read_csv('{src}', header = true)" if spec["input"]["format"] == "csv"
              else f"read_json('{src}', format = 'newline_delimited')")
    con = duckdb.connect()
    con.execute(f"CREATE VIEW input AS SELECT * FROM {reader}")
    for i, stage in enumerate(spec["stages"]):
        if "sql" in stage:  # shuffle is a no-op in one process
            con.execute(f"CREATE TABLE s{i} AS {stage['sql']}")
            con.execute("DROP VIEW input")
            con.execute(f"CREATE VIEW input AS SELECT * FROM s{i}")
    out = spec["output"]["path"].removeprefix("file://")
    os.makedirs(out, exist_ok=True)
    limit = " LIMIT 10" if os.environ.get("FAKE_SPINDLE_WRONG") else ""
    con.execute(f"COPY (SELECT * FROM input{limit}) TO '{out}/part-00000.parquet' (FORMAT parquet)")
    open(os.path.join(out, "_SUCCESS"), "w").close()
    json.dump({"job": spec["name"], "status": "succeeded", "error": None,
               "wall_time_s": time.perf_counter() - t}, open(summary_path, "w"))
    sys.exit(0)
print(f"error: unrecognized subcommand '{a[0] if a else ''}'", file=sys.stderr)
sys.exit(2)
