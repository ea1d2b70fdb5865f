#!/usr/bin/env python3
"""spindle vs Dask, Spark, DuckDB, DataFusion: side-by-side benchmark driver.

Started by run.sh inside <repo>/.venv-bench. Steps:
  1. generate the click-log datasets (gendata.go, fixed seed) unless already there;
  2. compute the reference answer of every dataframe workload with DuckDB (untimed);
  3. run every (workload, system) cell N times, each run a fresh process tree, recording
     wall time, the runner's own workload time, and the peak RSS of the whole tree
     (psutil, polled every 50 ms);
  4. check each run's output against the reference (a wrong answer voids the cell);
  5. print a markdown table, replace this mode's section of BENCHMARKS.md, and write --json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SYSTEMS = ["spindle", "dask", "spark", "duckdb", "datafusion"]
PEERS = SYSTEMS[1:]

MODES = {
    # files, bytes per CSV file, files also written as JSONL, tasks, shuffle partitions, runs
    "quick": dict(files=4, file_bytes=12_500_000, jsonl_files=4, tasks=5_000, partitions=4, runs=1,
                  timeout=600),
    "full": dict(files=16, file_bytes=128 * 1024 * 1024, jsonl_files=8, tasks=100_000, partitions=8,
                 runs=3, timeout=3600),
}
SEED = 42

WORKLOADS = [
    dict(name="tasks_map", systems=["spindle", "dask"],
         desc="tiny tasks: map inc over range(N) and gather the N results"),
    dict(name="tasks_tree", systems=["spindle", "dask"],
         desc="tiny tasks: N leaves (inc) then a pairwise-sum tree reduction (2N-1 tasks)"),
    dict(name="groupby", systems=SYSTEMS, input="csv",
         desc="CSV group-by: SELECT user, sum(bytes), count(*) WHERE status = 200 GROUP BY user"),
    dict(name="distinct_by_url", systems=SYSTEMS, input="csv",
         desc="shuffle-heavy: repartition all rows by url, count(DISTINCT user) per url, Parquet out"),
    dict(name="parse_write", systems=SYSTEMS, input="jsonl",
         desc="parse-and-write: JSONL -> filter status = 200 -> Parquet"),
]

# Reference SQL (DuckDB) and the normalization applied to every system's output.
REF_SQL = {
    "groupby": "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM {src} WHERE status = 200 GROUP BY user",
    "distinct_by_url": "SELECT url, count(DISTINCT user) AS users FROM {src} GROUP BY url",
    "parse_write": "SELECT user, url, status, bytes, ts FROM {src} WHERE status = 200",
}
NORM_COLS = {
    "groupby": [("user", "VARCHAR"), ("bytes", "BIGINT"), ("hits", "BIGINT")],
    "distinct_by_url": [("url", "VARCHAR"), ("users", "BIGINT")],
    "parse_write": [("user", "VARCHAR"), ("url", "VARCHAR"), ("status", "BIGINT"), ("bytes", "BIGINT"),
                    ("ts", "BIGINT")],
}
DUCK_COLS = "{'user': 'VARCHAR', 'url': 'VARCHAR', 'status': 'INTEGER', 'bytes': 'BIGINT', 'ts': 'BIGINT'}"

# Spindle job specs: one per dataframe workload. Stages mirror what the peers do.
SPINDLE_STAGES = {
    "groupby": """\
  - sql: "SELECT user, bytes FROM input WHERE status = 200"
  - shuffle: {{ by: [user], partitions: {p} }}
  - sql: "SELECT user, sum(bytes) AS bytes, count(*) AS hits FROM input GROUP BY user"
""",
    "distinct_by_url": """\
  - sql: "SELECT user, url FROM input"
  - shuffle: {{ by: [url], partitions: {p} }}
  - sql: "SELECT url, count(DISTINCT user) AS users FROM input GROUP BY url"
""",
    "parse_write": """\
  - sql: "SELECT user, url, status, bytes, ts FROM input WHERE status = 200"
""",
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ data
def ensure_data(mode: str, cache: Path) -> dict:
    cfg = MODES[mode]
    data = cache / mode
    src = (HERE / "gendata.go").read_bytes()
    params = dict(files=cfg["files"], file_bytes=cfg["file_bytes"], jsonl_files=cfg["jsonl_files"], seed=SEED)
    stamp = hashlib.sha256(src + json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    stamp_file = data / "_GENERATED.json"
    if stamp_file.exists():
        info = json.loads(stamp_file.read_text())
        if info.get("stamp") == stamp:
            log(f"data: {data} is current (stamp {stamp})")
            return info
    if not shutil.which("go"):
        raise SystemExit("bench: Go is needed to generate the datasets (gendata.go); install it or put it on PATH")
    gen = cache / "bin" / f"gendata-{hashlib.sha256(src).hexdigest()[:12]}"
    gen.parent.mkdir(parents=True, exist_ok=True)
    if not gen.exists():
        log("data: building gendata.go")
        subprocess.run(["go", "build", "-o", str(gen), str(HERE / "gendata.go")], check=True, cwd=HERE)
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    log(f"data: generating {mode} dataset into {data}")
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(gen), "-out", str(data), "-files", str(cfg["files"]), "-file-bytes", str(cfg["file_bytes"]),
         "-jsonl-files", str(cfg["jsonl_files"]), "-seed", str(SEED), "-parallel", str(os.cpu_count() or 2)],
        check=True, capture_output=True, text=True,
    )
    gen_s = time.perf_counter() - t0
    g = json.loads(out.stdout.strip().splitlines()[-1])
    csv_bytes = sum(p.stat().st_size for p in (data / "clicks").glob("*.csv"))
    jsonl_bytes = sum(p.stat().st_size for p in (data / "clicks_jsonl").glob("*.jsonl"))
    info = dict(stamp=stamp, path=str(data), params=params, csv_rows=g["rows"], csv_files=cfg["files"],
                csv_bytes=csv_bytes, jsonl_files=g["jsonl_files"], jsonl_bytes=jsonl_bytes,
                generate_s=round(gen_s, 2))
    stamp_file.write_text(json.dumps(info, indent=1))
    log(f"data: {csv_bytes / 1e6:.0f} MB CSV ({g['rows']} rows), {jsonl_bytes / 1e6:.0f} MB JSONL in {gen_s:.1f} s")
    return info


def src_expr(data: Path, kind: str) -> str:
    if kind == "csv":
        return f"read_csv('{data}/clicks/*.csv', header = true, delim = ',', columns = {DUCK_COLS})"
    return f"read_json('{data}/clicks_jsonl/*.jsonl', format = 'newline_delimited', columns = {DUCK_COLS})"


def norm_select(workload: str, rel: str) -> str:
    cols = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in NORM_COLS[workload])
    return f"SELECT {cols} FROM {rel}"


def fingerprint(con, workload: str, rel: str) -> dict:
    cols = ", ".join(c for c, _ in NORM_COLS[workload])
    row = con.execute(
        f"SELECT count(*), sum(hash({cols})::HUGEINT)::VARCHAR, bit_xor(hash({cols}))::VARCHAR "
        f"FROM ({norm_select(workload, rel)})"
    ).fetchone()
    return dict(rows=int(row[0]), hash_sum=row[1], hash_xor=row[2])


def ensure_reference(workload: str, kind: str, data: Path) -> dict:
    import duckdb

    ref_dir = data / "ref"
    ref_dir.mkdir(exist_ok=True)
    ref_json = ref_dir / f"{workload}.json"
    ref_parquet = ref_dir / f"{workload}.parquet"
    if ref_json.exists() and ref_parquet.exists():
        return json.loads(ref_json.read_text())
    log(f"reference: computing {workload} answer with DuckDB")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    sql = REF_SQL[workload].format(src=src_expr(data, kind))
    con.execute(f"COPY ({sql}) TO '{ref_parquet}' (FORMAT parquet)")
    fp = fingerprint(con, workload, f"read_parquet('{ref_parquet}')")
    ref_json.write_text(json.dumps(fp))
    return fp


def check_output(workload: str, out_dir: Path, ref: dict, data: Path) -> tuple[bool, str]:
    import duckdb

    files = sorted(str(p) for p in out_dir.rglob("*.parquet") if "_temporary" not in p.parts)
    if not files:
        return False, "no *.parquet output"
    con = duckdb.connect()
    rel = f"read_parquet({files!r})"
    try:
        fp = fingerprint(con, workload, rel)
    except Exception as e:  # missing column, bad type, unreadable file
        return False, f"cannot read output: {str(e).splitlines()[0][:200]}"
    if fp == ref:
        return True, f"{fp['rows']} rows match"
    # Explain the mismatch: rows missing from / extra in the output.
    ref_rel = f"read_parquet('{data / 'ref' / (workload + '.parquet')}')"
    a, b = norm_select(workload, rel), norm_select(workload, ref_rel)
    extra = con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()[0]
    missing = con.execute(f"SELECT count(*) FROM ({b} EXCEPT ALL {a})").fetchone()[0]
    return False, f"{fp['rows']} rows vs {ref['rows']} expected: {missing} missing, {extra} unexpected"


# --------------------------------------------------------------------------- measuring
def measure(cmd: list[str], run_dir: Path, timeout: float, env: dict | None = None) -> dict:
    """Run cmd as a new process group; wall time, peak RSS of the tree, exit status."""
    out_path, err_path = run_dir / "stdout.log", run_dir / "stderr.log"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=run_dir,
                             env=env, start_new_session=True)
        root = psutil.Process(p.pid)
        peak = 0
        timed_out = False
        while p.poll() is None:
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                procs = []
            for q in procs:
                try:
                    total += q.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            peak = max(peak, total)
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                break
            time.sleep(0.05)
        if timed_out:
            _kill_group(p.pid, signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                _kill_group(p.pid, signal.SIGKILL)
                p.wait()
        wall = time.perf_counter() - t0
    _kill_group(p.pid, signal.SIGKILL)  # anything the run left behind in its group
    return dict(wall_s=wall, peak_rss_mb=peak / 2**20, rc=p.returncode, timed_out=timed_out,
                stdout=out_path.read_text(errors="replace"), stderr=err_path.read_text(errors="replace"))


def _kill_group(pgid: int, sig) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def last_json(text: str, prefix: str = "") -> dict | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if prefix:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
            continue
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-600:]


# ----------------------------------------------------------------------------- spindle
class Spindle:
    def __init__(self, binary: str):
        self.bin = binary
        self.tasks_ok = self.run_ok = self.tree_ok = False
        self.reason_tasks = self.reason_run = ""
        self.version = None
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            self.reason_tasks = self.reason_run = f"binary {binary} not found"
            return
        self.version = self._probe(["--version"])[1].strip() or None
        rc, out = self._probe(["bench", "tasks", "--help"])
        self.tasks_ok = rc == 0
        self.tree_ok = self.tasks_ok and "--tree" in out
        self.reason_tasks = "" if self.tasks_ok else "`spindle bench tasks` missing"
        rc, out = self._probe(["run", "--help"])
        self.run_ok = rc == 0 and "summary-json" in out
        if rc != 0:
            self.reason_run = "`spindle run` missing"
        elif not self.run_ok:
            self.reason_run = "`spindle run` has no --summary-json"

    def _probe(self, args):
        try:
            r = subprocess.run([self.bin, *args], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            return r.returncode, r.stdout + r.stderr
        except (OSError, subprocess.TimeoutExpired) as e:
            return 1, str(e)

    def available(self, workload: str) -> tuple[bool, str]:
        if workload == "tasks_map":
            return self.tasks_ok, self.reason_tasks
        if workload == "tasks_tree":
            if not self.tasks_ok:
                return False, self.reason_tasks
            return self.tree_ok, "" if self.tree_ok else "`spindle bench tasks` has no --tree"
        return self.run_ok, self.reason_run


def spindle_spec(workload: str, kind: str, data: Path, out: Path, partitions: int) -> str:
    if kind == "csv":
        inp = f"""\
  path: "file://{data}/clicks/*.csv"
  format: csv
  csv: {{ header: true, delimiter: "," }}
"""
    else:
        inp = f"""\
  path: "file://{data}/clicks_jsonl/*.jsonl"
  format: jsonl
"""
    return f"""\
# generated by scripts/bench/bench.py
name: bench-{workload.replace('_', '-')}
workers: {{ instances: 2, memory: 4 GiB, vcores: 1 }}
input:
{inp}  split_size: 64 MiB
stages:
{SPINDLE_STAGES[workload].format(p=partitions)}output:
  path: "file://{out}"
  format: parquet
  mode: overwrite
"""


def keep_spindle_logs(summary_file: Path, dest: Path) -> None:
    """A failed spindle job leaves its worker logs where its summary's `logs` says (a temp
    dir): move them next to the run's other logs."""
    try:
        src = Path(json.loads(summary_file.read_text()).get("logs") or "")
    except (OSError, ValueError, AttributeError):
        return
    if src.is_dir() and src.name.startswith("spindle-"):
        shutil.move(str(src), str(dest))


def summary_seconds(summary) -> float | None:
    """spindle's own elapsed time from its --summary-json, if it has a recognizable key."""
    if not isinstance(summary, dict):
        return None
    for k in ("wall_time_s", "elapsed_s", "seconds", "wall_s", "duration_s", "elapsed_seconds"):
        if isinstance(summary.get(k), (int, float)):
            return float(summary[k])
    for k in ("elapsed_ms", "duration_ms", "wall_ms"):
        if isinstance(summary.get(k), (int, float)):
            return float(summary[k]) / 1000
    return None


# ---------------------------------------------------------------------------- one cell
def run_cell(wl: dict, system: str, a, data: Path, ref: dict | None, spindle: Spindle, work: Path,
             logs: Path) -> dict:
    name = wl["name"]
    if system not in wl["systems"]:
        return dict(status="n/a", median_s=None, peak_rss_mb=None, answer_ok=None)
    if system == "spindle":
        ok, reason = spindle.available(name)
        if not ok:
            log(f"{name}/spindle: not available ({reason})")
            return dict(status="not_available", reason=reason, median_s=None, peak_rss_mb=None, answer_ok=None)
    runs, works, peaks, notes, bad = [], [], [], [], []
    ntasks = None
    answer_ok = True
    summary = None
    for i in range(a.runs):
        run_dir = work / f"{name}-{system}-{i}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        out_dir = run_dir / "out"
        run_dir.mkdir(parents=True)
        env = dict(os.environ)
        if system == "spindle":
            if name.startswith("tasks_"):
                cmd = [spindle.bin, "bench", "tasks", "--tasks", str(a.tasks), "--workers", "2", "--json"]
                if name == "tasks_tree":
                    # `--tasks n --tree` is TaskGraph::tree_reduction(n): ~n tasks in all, n/2
                    # leaves. Ask for 2N so spindle's tree has N leaves like Dask's.
                    cmd[4] = str(2 * a.tasks)
                    cmd.insert(-1, "--tree")
            else:
                spec = run_dir / "spec.yaml"
                spec.write_text(spindle_spec(name, wl["input"], data, out_dir, a.partitions))
                cmd = [spindle.bin, "run", str(spec), "--workers", "2", "--summary-json", str(run_dir / "summary.json")]
        else:
            out_dir.mkdir()
            cmd = [sys.executable, str(HERE / "runners.py"), "--system", system, "--workload", name,
                   "--data", str(data), "--out", str(out_dir), "--partitions", str(a.partitions),
                   "--tasks", str(a.tasks)]
        log(f"{name}/{system}: run {i + 1}/{a.runs}")
        m = measure(cmd, run_dir, a.timeout, env)
        for f in ("stdout.log", "stderr.log", "spec.yaml", "summary.json"):
            if (run_dir / f).exists():
                shutil.copy(run_dir / f, logs / f"{name}-{system}-{i}.{f}")
        if m["timed_out"]:
            log(f"{name}/{system}: TIMEOUT after {a.timeout:.0f} s")
            return dict(status="timeout", reason=f"> {a.timeout:.0f} s", median_s=None,
                        peak_rss_mb=round(m["peak_rss_mb"], 1) or None, answer_ok=None)
        if m["rc"] != 0:
            reason = f"exit {m['rc']}: {tail(m['stderr'] or m['stdout'])}"
            try:  # spindle's own account of the failure, if it wrote one
                err = json.loads((logs / f"{name}-{system}-{i}.summary.json").read_text()).get("error")
                if err:
                    reason = f"exit {m['rc']}: {err}"
            except (OSError, ValueError, AttributeError):
                pass
            keep_spindle_logs(logs / f"{name}-{system}-{i}.summary.json", logs / f"{name}-{system}-{i}.worker-logs")
            log(f"{name}/{system}: ERROR {reason}")
            return dict(status="error", reason=reason, median_s=None,
                        peak_rss_mb=round(m["peak_rss_mb"], 1) or None, answer_ok=None)
        work_s = None
        ok, note = True, ""
        if system == "spindle" and name.startswith("tasks_"):
            res = last_json(m["stdout"])
            if not res or "tasks" not in res:
                ok, note = False, f"no JSON result on stdout: {tail(m['stdout'])}"
            else:
                work_s = res.get("seconds")
                ntasks = int(res["tasks"])
                # tasks_map: N tasks; tasks_tree: N leaves + >= N-1 sums (as Dask's tree).
                want = a.tasks if name == "tasks_map" else 2 * a.tasks - 1
                ok = ntasks >= want
                note = f"tasks={ntasks}" + ("" if ok else f", expected >= {want}")
                summary = res
        elif system == "spindle":
            if (run_dir / "summary.json").exists():
                try:
                    summary = json.loads((run_dir / "summary.json").read_text())
                except json.JSONDecodeError:
                    summary = None
                work_s = summary_seconds(summary)
            st = summary.get("status") if isinstance(summary, dict) else None
            if st not in (None, "succeeded"):
                ok, note = False, f"summary status {st}: {summary.get('error')}"
            elif not (out_dir / "_SUCCESS").exists():
                ok, note = False, "no _SUCCESS in output"
            else:
                ok, note = check_output(name, out_dir, ref, data)
        else:
            res = last_json(m["stdout"], "BENCH_RESULT ")
            if res is None:
                ok, note = False, "runner printed no BENCH_RESULT"
            else:
                work_s = res.get("work_s")
                if name.startswith("tasks_"):
                    expect = a.tasks * (a.tasks + 1) // 2
                    ok = res.get("checksum") == expect
                    ntasks = res.get("tasks")
                    note = f"{ntasks} tasks, sum {'ok' if ok else 'WRONG'}"
                else:
                    ok, note = check_output(name, out_dir, ref, data)
        answer_ok = answer_ok and ok
        runs.append(m["wall_s"])
        if work_s is not None:
            works.append(work_s)
        peaks.append(m["peak_rss_mb"])
        notes.append(note)
        if not ok:
            bad.append(f"run {i + 1}: {note}")
        log(f"{name}/{system}: wall {m['wall_s']:.2f} s, work {work_s if work_s is None else round(work_s, 2)} s, "
            f"peak {m['peak_rss_mb']:.0f} MB, answer {'ok' if ok else 'WRONG'} ({note})")
        if not a.keep_outputs:
            shutil.rmtree(run_dir, ignore_errors=True)
    r = dict(
        status="ok" if answer_ok else "wrong_answer",
        median_s=round(statistics.median(runs), 3),
        work_median_s=round(statistics.median(works), 3) if works else None,
        runs_s=[round(x, 3) for x in runs],
        peak_rss_mb=round(max(peaks), 1),
        answer_ok=answer_ok,
        check=notes[-1] if notes else "",
    )
    if ntasks:
        r["tasks"] = ntasks
        if works:
            r["tasks_per_s"] = round(ntasks / statistics.median(works), 1)
    if not answer_ok:
        r["void"] = True
        r["reason"] = "; ".join(bad)
    if summary is not None:
        r["spindle_summary"] = summary
    return r


# ----------------------------------------------------------------------------- report
def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return dict(nproc=os.cpu_count(), mem_gib=round(mem_kb / 2**20, 1), cpu=cpu, kernel=platform.release(),
                python=platform.python_version(), java=java[0] if java else "none",
                loadavg_at_start=[round(x, 2) for x in os.getloadavg()])


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    v = {}
    for pkg in ("dask", "distributed", "pyspark", "duckdb", "datafusion", "pandas", "pyarrow"):
        try:
            v[pkg] = version(pkg)
        except PackageNotFoundError:
            v[pkg] = None
    return v


def fmt_cell(r: dict, key: str, nd: int = 2) -> str:
    v = r.get(key)
    return "—" if v is None else f"{v:.{nd}f}"


def markdown(report: dict) -> str:
    m, d = report["machine"], report["dataset"]
    v = report["versions"]
    lines = [
        f"Date: {report['date']} · mode `{report['mode']}` · {report['runs_per_cell']} run(s) per cell, median wall time",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['java']}; load average {m['loadavg_at_start'][0]} at start, "
        f"{m.get('loadavg_at_end', ['?'])[0]} at end"
        + (" (**busy machine: numbers are not comparable**)" if max(m["loadavg_at_start"][0], m.get("loadavg_at_end", [0])[0]) > 0.5 * m["nproc"] else ""),
        "",
        f"Data: {d['csv_files']} CSV files, {d['csv_bytes'] / 1e6:.0f} MB, {d['csv_rows']:,} rows; "
        f"{d['jsonl_files']} JSONL files, {d['jsonl_bytes'] / 1e6:.0f} MB (same rows as the first "
        f"{d['jsonl_files']} CSV files); generated in {d['generate_s']} s. Tiny-task workloads use "
        f"N = {report['tasks']:,}; shuffles use {report['partitions']} partitions.",
        "",
        "Peers: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) +
        f"; spindle: {report.get('spindle_version') or report.get('spindle_binary')}"
        + ("" if os.path.isfile(report["spindle_binary"]) else " (not built)"),
        "",
        "| workload | system | wall s (median) | work s (median) | peak RSS MB | answer | spindle ÷ peer (wall) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for w in report["workloads"]:
        sp = w["results"].get("spindle", {})
        sp_ok = sp.get("status") == "ok"
        for s in SYSTEMS:
            r = w["results"].get(s)
            if not r or r["status"] == "n/a":
                continue
            st = r["status"]
            if st == "ok":
                ans = "ok"
                if r.get("tasks_per_s"):
                    ans += f" ({r['tasks']:,} tasks, {r['tasks_per_s']:,.0f}/s)"
            elif st == "wrong_answer":
                ans = "**void** (wrong answer)"
            elif st == "not_available":
                ans = "not available"
            else:
                ans = st
            ratio = "—"
            if s != "spindle" and sp_ok and st == "ok" and r.get("median_s"):
                if w["name"].startswith("tasks_") and sp.get("tasks_per_s") and r.get("tasks_per_s"):
                    # task counts may differ (tree shapes): compare time per task, work time only
                    ratio = f"{r['tasks_per_s'] / sp['tasks_per_s']:.3g}× (per task)"
                else:
                    ratio = f"{sp['median_s'] / r['median_s']:.3g}×"
            wall = fmt_cell(r, "median_s")
            if st == "wrong_answer":
                wall = f"~~{wall}~~"
            lines.append(f"| {w['name']} | {s} | {wall} | {fmt_cell(r, 'work_median_s')} | "
                         f"{fmt_cell(r, 'peak_rss_mb', 0)} | {ans} | {ratio} |")
    notes = []
    for w in report["workloads"]:
        for s in SYSTEMS:
            r = w["results"].get(s, {})
            if r.get("reason") and r.get("status") != "n/a":
                notes.append(f"- {w['name']}/{s}: {r['reason']}")
    if notes:
        lines += ["", "Notes:", *notes]
    lines += ["", "Wall = whole process tree from start to exit (interpreter, cluster/JVM start-up, "
              "teardown); work = the system's own timing of the workload once it is up. "
              "Peak RSS = largest sum of RSS over the process tree, polled every 50 ms."]
    return "\n".join(lines) + "\n"


def update_results_md(path: Path, mode: str, body: str) -> None:
    begin, end = f"<!-- BEGIN spindle-bench {mode} -->", f"<!-- END spindle-bench {mode} -->"
    title = {"quick": "Quick run (`scripts/bench/run.sh --quick`)", "full": "Full run (`scripts/bench/run.sh`)"}[mode]
    section = f"{begin}\n## {title}\n\n{body}{end}\n"
    text = path.read_text() if path.exists() else (
        "# spindle benchmark results\n\nGenerated by `scripts/bench/run.sh`; each mode's section is replaced "
        "on every run. See scripts/bench/README.md for what the workloads are.\n\n")
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# ------------------------------------------------------------------------------- main
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small data, 1 run per cell")
    p.add_argument("--json", help="write the results as JSON to this path")
    p.add_argument("--spindle", default=str(REPO / "target" / "release" / "spindle"))
    p.add_argument("--runs", type=int, help="runs per cell (default 3 full, 1 quick)")
    p.add_argument("--workloads", help="comma-separated subset of: " + ",".join(w["name"] for w in WORKLOADS))
    p.add_argument("--systems", help="comma-separated subset of: " + ",".join(SYSTEMS))
    p.add_argument("--tasks", type=int, help="N for the tiny-task workloads")
    p.add_argument("--partitions", type=int, help="shuffle partitions")
    p.add_argument("--timeout", type=float, help="seconds per run before it is killed")
    p.add_argument("--results-md", default=str(HERE.parent.parent / "BENCHMARKS.md"))
    p.add_argument("--no-results-md", action="store_true", help="do not touch BENCHMARKS.md")
    p.add_argument("--keep-outputs", action="store_true", help="keep each run's output directory")
    p.add_argument("--cache", default=str(REPO / ".cache" / "bench"))
    p.add_argument("--write-specs", metavar="DIR",
                   help="only write the spindle job specs (output under DIR/out/<workload>) and exit")
    a = p.parse_args()

    mode = "quick" if a.quick else "full"
    cfg = MODES[mode]
    a.runs = a.runs or cfg["runs"]
    a.tasks = a.tasks or cfg["tasks"]
    a.partitions = a.partitions or cfg["partitions"]
    a.timeout = a.timeout or cfg["timeout"]
    a.spindle = str(Path(a.spindle).resolve()) if os.path.sep in a.spindle else (shutil.which(a.spindle) or a.spindle)
    workloads = [w for w in WORKLOADS if not a.workloads or w["name"] in a.workloads.split(",")]
    systems = [s for s in SYSTEMS if not a.systems or s in a.systems.split(",")]
    if not workloads or not systems:
        p.error("no workload or no system selected")

    cache = Path(a.cache).resolve()
    t_start = time.perf_counter()
    dataset = ensure_data(mode, cache)
    data = Path(dataset["path"])
    if a.write_specs:
        d = Path(a.write_specs).resolve()
        d.mkdir(parents=True, exist_ok=True)
        for wl in workloads:
            if "input" in wl:
                spec = d / f"{wl['name']}.yaml"
                spec.write_text(spindle_spec(wl["name"], wl["input"], data, d / "out" / wl["name"], a.partitions))
                print(f"{a.spindle} run {spec} --workers 2 --summary-json {d / (wl['name'] + '.summary.json')}")
        return 0
    work = cache / "work" / mode
    stamp = dt.datetime.now(dt.timezone.utc)
    logs = cache / "logs" / f"{mode}-{stamp.strftime('%Y%m%dT%H%M%SZ')}"
    logs.mkdir(parents=True, exist_ok=True)
    spindle = Spindle(a.spindle)
    log(f"spindle: {a.spindle}: tasks={'yes' if spindle.tasks_ok else 'no'} run={'yes' if spindle.run_ok else 'no'}"
        + (f" ({spindle.reason_run})" if spindle.reason_run else ""))

    report = dict(
        mode=mode, date=stamp.strftime("%Y-%m-%d %H:%M UTC"), machine=machine_info(), versions=versions(),
        spindle_binary=a.spindle, spindle_version=spindle.version, dataset=dataset, runs_per_cell=a.runs,
        tasks=a.tasks, partitions=a.partitions, logs=str(logs), workloads=[],
    )
    for wl in workloads:
        ref = ensure_reference(wl["name"], wl["input"], data) if "input" in wl else None
        results = {}
        for s in SYSTEMS:
            if s not in systems:
                continue
            results[s] = run_cell(wl, s, a, data, ref, spindle, work, logs)
        report["workloads"].append(dict(name=wl["name"], description=wl["desc"], results=results))
    shutil.rmtree(work, ignore_errors=True)
    report["harness_s"] = round(time.perf_counter() - t_start, 1)
    report["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    md = markdown(report)
    print(md)
    if not a.no_results_md:
        update_results_md(Path(a.results_md), mode, md)
        log(f"wrote {a.results_md}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
        log(f"wrote {a.json}")
    log(f"done in {report['harness_s']} s; logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
