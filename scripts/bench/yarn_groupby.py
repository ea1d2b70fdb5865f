#!/usr/bin/env python3
"""Workload 5: the CSV group-by (workload 2) through `spindle submit` on the minicluster
with HDFS input, against `spindle run` on the same data, to show what YARN costs.

Three ways, alternating, N runs each, on the data `scripts/bench/run.sh` generates
(.cache/bench/<size>/clicks/*.csv):

  run_local   spindle run,    local workers, input from local files, output local
  run_hdfs    spindle run,    local workers, input from HDFS,        output HDFS
  submit_hdfs spindle submit --wait, AM + workers in YARN containers, HDFS in and out

Times are wall clock around the client command (submit's includes staging, the AM's
container, the workers' containers and unregistering). Every way's result is copied back
to local CSV by a spindle job and compared row for row with run_local's: a wrong answer
voids the table. Stdlib only; the minicluster comes from scripts/minicluster.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yarn_startup import Minicluster  # noqa: E402  (same directory)

REPO = Path(__file__).resolve().parents[2]
WAYS = ["run_local", "run_hdfs", "submit_hdfs"]
STAGES = """\
stages:
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: { by: [user], partitions: 4 }
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
"""


def log(msg: str) -> None:
    print(f"[yarn-groupby] {msg}", file=sys.stderr, flush=True)


def spec(name: str, inp: str, out: str, stages: str = STAGES, fmt: str = "parquet") -> str:
    return f"""\
name: {name}
workers: {{ instances: 2, memory: 3 GiB, vcores: 1 }}
input:
  path: "{inp}"
  format: csv
  csv: {{ header: true, delimiter: "," }}
  split_size: 64 MiB
{stages}output:
  path: "{out}"
  format: {fmt}
  mode: overwrite
"""


class Runner:
    def __init__(self, spindle: Path, conf_dir: Path, tmp: Path):
        self.spindle = spindle
        self.tmp = tmp
        self.env = dict(os.environ, HADOOP_CONF_DIR=str(conf_dir))

    def job(self, name: str, text: str, submit: bool = False) -> tuple[float, dict]:
        path = self.tmp / f"{name}.yaml"
        path.write_text(text)
        summary = self.tmp / f"{name}.summary.json"
        if submit:
            cmd = [str(self.spindle), "submit", str(path), "--wait", "--json", "--am-memory-mb", "512"]
        else:
            cmd = [str(self.spindle), "run", str(path), "--quiet", "--workers", "2", "--summary-json", str(summary)]
        t = time.monotonic()
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        elapsed = time.monotonic() - t
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        result = json.loads(p.stdout)["summary"] if submit else json.loads(summary.read_text())
        return elapsed, result

    def answer(self, name: str, out: str) -> list[str]:
        """The job's output as sorted CSV lines, copied back to local disk by spindle."""
        local = self.tmp / f"{name}-answer"
        self.job(f"{name}-copy", f"""\
name: copy-back
input: {{ path: "{out}", format: parquet }}
output: {{ path: "{local}", format: csv, mode: overwrite }}
""")
        lines = []
        for f in sorted(local.glob("part-*.csv")):
            lines.extend(f.read_text().splitlines()[1:])
        return sorted(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default=str(REPO / ".cache" / "bench" / "full"),
                    help="directory holding clicks/*.csv (made by scripts/bench/run.sh)")
    ap.add_argument("--spindle", default=str(REPO / "target" / "release" / "spindle"))
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args()
    data = Path(a.data).resolve()
    if not list((data / "clicks").glob("*.csv")):
        log(f"no {data}/clicks/*.csv: generate it with scripts/bench/run.sh first")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="spindle-yarn-groupby-"))
    cluster = Minicluster(tmp / "conf", tmp / "minicluster.log")
    try:
        cluster.wait_ready(900)
        r = Runner(Path(a.spindle).resolve(), tmp / "conf", tmp)
        size = sum(f.stat().st_size for f in (data / "clicks").glob("*.csv"))
        log(f"copying {size / 1e9:.2f} GB of CSV into HDFS")
        t, _ = r.job("upload", spec("upload", f"file://{data}/clicks/*.csv", "hdfs:///bench/clicks", "", "csv"))
        log(f"uploaded in {t:.1f} s")
        outs = {
            "run_local": str(tmp / "out-local"),
            "run_hdfs": "hdfs:///bench/out-run",
            "submit_hdfs": "hdfs:///bench/out-submit",
        }
        inputs = {
            "run_local": f"file://{data}/clicks/*.csv",
            "run_hdfs": "hdfs:///bench/clicks/*.csv",
            "submit_hdfs": "hdfs:///bench/clicks/*.csv",
        }
        # One untimed submit stages the binary, so the timed ones are warm like the runs.
        r.job("warmup", spec("warmup", inputs["submit_hdfs"], "hdfs:///bench/out-warmup"), submit=True)
        times: dict[str, list[float]] = {w: [] for w in WAYS}
        summaries: dict[str, dict] = {}
        for i in range(a.runs):
            for way in WAYS:
                t, s = r.job(f"{way}-{i}", spec(f"groupby-{way}", inputs[way], outs[way]),
                             submit=way.startswith("submit"))
                times[way].append(t)
                summaries[way] = s
                log(f"run {i + 1} {way}: {t:.2f} s, locality {s.get('locality')}")
        reference = r.answer("run_local", outs["run_local"])
        ok = {w: r.answer(w, outs[w]) == reference for w in WAYS}
        base = statistics.median(times["run_local"])
        print(f"## Workload 5: CSV group-by through YARN ({size / 1e9:.2f} GB, {a.runs} runs, 2 workers)\n")
        print("| way | median s | runs | vs run_local | rows in | scans data-local | answer |")
        print("|---|---:|---|---:|---:|---:|---|")
        for w in WAYS:
            m = statistics.median(times[w])
            runs = ", ".join(f"{t:.2f}" for t in times[w])
            s = summaries[w]
            print(f"| {w} | {m:.2f} | {runs} | {m / base:.2f}x | {s['rows_in']} | "
                  f"{s['locality']['data_local']} | {'ok' if ok[w] else 'WRONG'} |")
        if a.json:
            Path(a.json).write_text(json.dumps({"times": times, "answer_ok": ok, "bytes": size}, indent=2))
        return 0 if all(ok.values()) else 1
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
