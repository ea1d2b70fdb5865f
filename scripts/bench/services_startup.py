#!/usr/bin/env python3
"""Services start-up of spindle vs Skein on the repo's real minicluster.

Both systems get the same cluster and the same YAML spec, in Skein's format (spindle
accepts it as written): one service `sleeper` of N instances (default 4), 256 MiB and
1 vcore each, script `sleep 600`, and an application master of 256 MiB / 1 vcore. In one
run, after one untimed warm-up each, the two alternate (who goes first alternates too).
Every time is wall clock from the moment the submitting client process starts:

  id_printed_s    the client has printed the application id on stdout
  client_exit_s   the client process has exited
  running_s       all N `sleep 600` processes of the application are in /proc (polled
                  every 20 ms from the client's start, for both): argv is exactly
                  `sleep 600` and the environment names the application
                  (SPINDLE_APPLICATION_ID + SPINDLE_SERVICE=sleeper for spindle,
                  SKEIN_APPLICATION_ID for Skein's containers)

The clients are what a user types: `spindle submit spec.yaml --am-memory-mb 256` and
`skein application submit spec.yaml`. No global Skein driver runs, so every Skein
submission starts (and on exit stops) its own Java driver, as a user's first command
does: a cold driver per run. Once measured, each application is killed with
`spindle kill` (plain YARN kill, Java-free, the same for both) and the next run starts
only when none of its processes remain.

Skein (PyPI `skein`, which ships its jar) is installed into a venv under /tmp on first
use. Its Python client runs `yarn classpath --glob` for the driver's class path: a stub
`yarn` first on PATH prints the minicluster's conf dir and class path. Its driver builds
the AM container's CLASSPATH from `yarn.application.classpath` of the client-side
configuration (default: a Hadoop install's share/ dirs, absent here), so Skein gets a
copy of the cluster's conf dir with that key set to the cluster conf dir and the
minicluster's jars. Nothing the NodeManager reads is changed.

Prints Markdown tables; --json writes everything. Needs Python >= 3.11, java and mvn
(see scripts/minicluster.sh); reaches PyPI once to install skein.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yarn_startup import (  # noqa: E402  (shared with the DistributedShell bench)
    MINICLUSTER,
    REPO,
    BenchError,
    Client,
    Minicluster,
    app_container_pids,
    fmt,
    on_sigterm,
    proc_argvs,
    quiesce,
    run,
    write_dshell_conf,
)

SKEIN_VERSION = "0.8.2"
SERVICE = "sleeper"
MEMORY_MB = 256
SCRIPT = ["sleep", "600"]
POLL_S = 0.02
SYSTEMS = ("spindle", "skein")
LABEL = {"spindle": "spindle", "skein": f"Skein {SKEIN_VERSION}"}
APP_ID_LINE = re.compile(r"^(application_\d+_\d+)\s*$")


def log(msg: str) -> None:
    print(f"[services-startup] {msg}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    tmp: Path
    spindle: Path
    skein: Path           # the venv's `skein` executable
    spec: Path
    conf_dir: Path        # the cluster's (spindle, kills, status)
    skein_config: Path    # SKEIN_CONFIG: Skein's private state (certificates, driver file)
    instances: int
    timeout_s: float
    spindle_env: dict
    skein_env: dict
    seq: int = 0


# --------------------------------------------------------------------------- setup


def spec_text(instances: int) -> str:
    """One spec for both systems, in Skein's format."""
    return (
        "name: bench-services\n"
        "queue: default\n"
        "master:\n"
        f"  resources: {{ memory: {MEMORY_MB}, vcores: 1 }}\n"
        "services:\n"
        f"  {SERVICE}:\n"
        f"    instances: {instances}\n"
        f"    resources: {{ memory: {MEMORY_MB}, vcores: 1 }}\n"
        f"    script: {' '.join(SCRIPT)}\n"
    )


def ensure_skein(venv: Path) -> Path:
    """skein==SKEIN_VERSION in venv (created with this interpreter if missing)."""
    exe = venv / "bin" / "skein"
    py = venv / "bin" / "python"
    if exe.exists():
        have = subprocess.run([str(py), "-c", "import skein; print(skein.__version__)"],
                              capture_output=True, text=True)
        if have.returncode == 0 and have.stdout.strip() == SKEIN_VERSION:
            return exe
    log(f"installing skein {SKEIN_VERSION} into {venv}")
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)], what="python -m venv")
    run([str(py), "-m", "pip", "install", "-q", f"skein=={SKEIN_VERSION}"], timeout=900,
        what="pip install skein")
    if not exe.exists():
        raise BenchError(f"pip installed skein but {exe} is missing")
    return exe


def java_home() -> str:
    """As scripts/minicluster.sh: $JAVA_HOME, else two levels above the real `java`."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    return str(Path(os.path.realpath(shutil.which("java"))).parent.parent)


def skein_environment(tmp: Path, conf_dir: Path, hadoop_cp: str, skein_exe: Path) -> tuple[dict, Path]:
    """Environment for the `skein` CLI: stub `yarn`, private SKEIN_CONFIG, conf with the AM class path."""
    skein_conf = tmp / "skein-conf"
    # yarn.application.classpath = <cluster conf dir>:<minicluster jars>, in a copy.
    write_dshell_conf(conf_dir, skein_conf, hadoop_cp)
    cp_file = tmp / "hadoop-classpath.txt"
    cp_file.write_text(f"{skein_conf}:{hadoop_cp}\n")
    stub_dir = tmp / "stub-bin"
    stub_dir.mkdir(exist_ok=True)
    stub = stub_dir / "yarn"
    # Skein's client only ever runs `yarn classpath --glob`; refuse anything else.
    stub.write_text(
        "#!/bin/sh\n"
        "# Stands in for Hadoop's `yarn classpath` (no Hadoop install here).\n"
        f'[ "$1" = classpath ] || {{ echo "stub yarn: only classpath" >&2; exit 1; }}\n'
        f'exec cat "{cp_file}"\n'
    )
    stub.chmod(0o755)
    skein_config = tmp / "skein-config"
    env = {
        **os.environ,
        "PATH": f"{stub_dir}:{skein_exe.parent}:{os.environ.get('PATH', '')}",
        "HADOOP_CONF_DIR": str(skein_conf),
        "JAVA_HOME": java_home(),
        "SKEIN_CONFIG": str(skein_config),
    }
    # Let the driver pick its own defaults, as a user's shell would.
    env.pop("SKEIN_DRIVER_JAVA_OPTIONS", None)
    return env, skein_config


def setup(args: argparse.Namespace, tmp: Path, cluster_holder: list) -> Bench:
    # A private copy: target/release/spindle may be rebuilt while this runs.
    spindle = tmp / "spindle"
    shutil.copy2(args.spindle, spindle)
    spindle.chmod(0o755)
    skein_exe = ensure_skein(Path(args.skein_venv))
    log("resolving the Hadoop class path")
    hadoop_cp = run([str(MINICLUSTER), "--print-classpath"], what="minicluster.sh --print-classpath").strip()
    if args.conf_dir:
        conf_dir = Path(args.conf_dir).resolve()
    else:
        conf_dir = tmp / "mc" / "conf"
        log(f"starting the minicluster (log: {tmp / 'minicluster.log'})")
        cluster = Minicluster(conf_dir, tmp / "minicluster.log")
        cluster_holder.append(cluster)
        cluster.wait_ready(args.cluster_timeout)
    log(f"cluster ready: HADOOP_CONF_DIR={conf_dir}")
    skein_env, skein_config = skein_environment(tmp, conf_dir, hadoop_cp, skein_exe)
    spec = tmp / "spec.yaml"
    spec.write_text(spec_text(args.instances))
    (tmp / "logs").mkdir(exist_ok=True)
    return Bench(tmp=tmp, spindle=spindle, skein=skein_exe, spec=spec, conf_dir=conf_dir,
                 skein_config=skein_config, instances=args.instances, timeout_s=args.timeout,
                 spindle_env={**os.environ, "HADOOP_CONF_DIR": str(conf_dir)},
                 skein_env=skein_env)


# --------------------------------------------------------------------------- processes


def read_environ(pid: int) -> dict[bytes, bytes] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return dict(item.partition(b"=")[::2] for item in raw.split(b"\0") if item)


def service_processes(system: str) -> dict[int, str]:
    """pid -> application id of every `sleep 600` process of a service container of system."""
    found = {}
    for pid, argv in proc_argvs((b"sleep",)):
        if os.path.basename(argv[0]) != "sleep" or argv[1:] != SCRIPT[1:]:
            continue
        env = read_environ(pid)
        if env is None:
            continue
        if system == "spindle":
            if env.get(b"SPINDLE_SERVICE") != SERVICE.encode():
                continue
            app = env.get(b"SPINDLE_APPLICATION_ID")
        else:
            app = env.get(b"SKEIN_APPLICATION_ID")
        if app:
            found[pid] = app.decode()
    return found


def skein_drivers(skein_config: Path) -> list[int]:
    """Skein driver JVMs started with our SKEIN_CONFIG (none should outlive a client)."""
    want = f"SKEIN_CONFIG={skein_config}".encode()
    pids = []
    for pid, argv in proc_argvs((b"java",)):
        if "com.anaconda.skein.Driver" in argv:
            env = read_environ(pid)
            if env is not None and want in (k + b"=" + v for k, v in env.items()):
                pids.append(pid)
    return pids


# --------------------------------------------------------------------------- one run


def client_cmd(bench: Bench, system: str) -> tuple[list[str], dict]:
    if system == "spindle":
        return ([str(bench.spindle), "submit", str(bench.spec), "--am-memory-mb", str(MEMORY_MB)],
                bench.spindle_env)
    if (bench.skein_config / "driver").exists():
        raise BenchError(f"a global Skein driver is registered in {bench.skein_config}; "
                         "every run must start its own")
    return [str(bench.skein), "application", "submit", str(bench.spec)], bench.skein_env


def measure(bench: Bench, system: str) -> dict:
    """One submission: times to id printed, client exit and all instances running; then kill."""
    bench.seq += 1
    k = bench.seq
    cmd, env = client_cmd(bench, system)
    res = {"system": system, "app_id": None, "id_printed_s": None, "client_exit_s": None,
           "running_s": None, "error": None}
    seen: dict[int, str] = {}  # cumulative: pid -> app id, from the client's start
    t0 = time.monotonic()
    client = Client(cmd, env, bench.tmp / "logs" / f"{system}-submit-{k}.log", APP_ID_LINE,
                    merge_stderr=False)
    try:
        while True:
            seen.update(service_processes(system))
            now = time.monotonic() - t0
            if res["client_exit_s"] is None and client.proc.poll() is not None:
                res["client_exit_s"] = now
            if client.found.is_set() and res["app_id"] is None:
                res["app_id"], res["id_printed_s"] = client.app_id, client.found_at - t0
            if res["app_id"] is not None:
                mine = sum(1 for app in seen.values() if app == res["app_id"])
                if mine >= bench.instances:
                    res["running_s"] = now
                    break
            if res["client_exit_s"] is not None and res["app_id"] is None:
                client.reader.join(5)
                if not client.found.is_set():
                    raise BenchError(f"{system} client exited ({client.proc.returncode}) without an "
                                     f"application id; see {client.log_path}")
                continue
            if res["client_exit_s"] is not None and client.proc.returncode != 0:
                raise BenchError(f"{system} client exited with {client.proc.returncode}; "
                                 f"see {client.log_path}")
            if now > bench.timeout_s:
                raise BenchError(f"{system} run {k}: timed out after {bench.timeout_s:.0f} s "
                                 f"({app_state(bench, res['app_id'])}, "
                                 f"{sum(1 for a in seen.values() if a == res['app_id'])}/"
                                 f"{bench.instances} instances seen)")
            time.sleep(POLL_S)
        # Let the client finish on its own (Skein's stops its driver first) before killing.
        if res["client_exit_s"] is None:
            try:
                client.proc.wait(60)
                res["client_exit_s"] = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                log(f"warning: {system} client still running 60 s after its containers")
        if client.proc.returncode not in (None, 0):
            raise BenchError(f"{system} client exited with {client.proc.returncode}; see {client.log_path}")
    except BenchError as e:
        res["error"] = str(e)
        log(f"error: {e}")
    finally:
        client.stop()
        app_id = res["app_id"] or client.app_id
        if app_id:
            quiesce(SimpleNamespace(spindle=bench.spindle, env=bench.spindle_env), app_id)
            if app_container_pids(app_id):
                log(f"warning: processes of {app_id} remain after the kill")
        for pid in skein_drivers(bench.skein_config):
            log(f"warning: a Skein driver (pid {pid}) outlived its client; stopping it")
            os.kill(pid, signal.SIGTERM)
    return res


def app_state(bench: Bench, app_id: str | None) -> str:
    if app_id is None:
        return "no application id yet"
    p = subprocess.run([str(bench.spindle), "status", app_id, "--json"], env=bench.spindle_env,
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        return "state unknown"
    report = json.loads(p.stdout)
    diag = (report.get("diagnostics") or "").strip().splitlines()
    return f"state {report.get('state')}" + (f": {diag[0][:200]}" if diag else "")


# --------------------------------------------------------------------------- report

METRICS = [
    ("running_s", "all {n} service containers running"),
    ("id_printed_s", "client printed the application id"),
    ("client_exit_s", "client exited"),
]


def ok_runs(runs: list[dict], system: str) -> list[dict]:
    return [r for r in runs if r["system"] == system and not r["error"]]


def summarize(runs: list[dict]) -> dict:
    out: dict = {}
    for system in SYSTEMS:
        out[system] = {}
        for key, _ in METRICS:
            vals = [r[key] for r in ok_runs(runs, system) if r[key] is not None]
            out[system][key] = statistics.median(vals) if vals else None
    out["ratio_spindle_over_skein"] = {
        key: (out["spindle"][key] / out["skein"][key]
              if out["spindle"][key] is not None and out["skein"][key] else None)
        for key, _ in METRICS
    }
    return out


def render(cfg: dict, runs: list[dict], summary: dict) -> str:
    n, nruns = cfg["instances"], cfg["runs"]
    by = {s: [r for r in runs if r["system"] == s] for s in SYSTEMS}

    def cells(system: str, key: str) -> list[str]:
        return [fmt(r[key]) if not r["error"] else "error" for r in by[system]]

    lines = [
        f"## Services start-up: spindle vs Skein ({n} instances, {nruns} runs each)",
        "",
        f"Minicluster (1 NodeManager); one service of {n} × {MEMORY_MB} MiB / 1 vcore "
        f"running `{' '.join(SCRIPT)}`, AM {MEMORY_MB} MiB / 1 vcore; {cfg['cpus']} CPUs, "
        f"load average {cfg['load_start']:.2f} at start, {cfg['load_end']:.2f} at end. "
        "Seconds from the submitting client's start until all service containers' "
        "processes are running; Skein with a cold driver every run.",
        "",
        "| all {n} containers running | median | {runs} |".format(
            n=n, runs=" | ".join(f"run {i}" for i in range(1, nruns + 1))),
        "|---|---:|" + "---:|" * nruns,
    ]
    for system in ("skein", "spindle"):
        lines.append(f"| {LABEL[system]} | {fmt(summary[system]['running_s'])} | "
                     + " | ".join(cells(system, "running_s")) + " |")
    pair = []
    for a, b in zip(by["spindle"], by["skein"]):
        ok = not a["error"] and not b["error"] and a["running_s"] and b["running_s"]
        pair.append(fmt(a["running_s"] / b["running_s"], "", 3) if ok else "—")
    lines.append(f"| spindle / Skein | {fmt(summary['ratio_spindle_over_skein']['running_s'], '', 3)} | "
                 + " | ".join(pair) + " |")
    lines += ["", "| median, seconds | Skein | spindle | spindle / Skein |", "|---|---:|---:|---:|"]
    for key, label in METRICS:
        lines.append(f"| {label.format(n=n)} | {fmt(summary['skein'][key])} | "
                     f"{fmt(summary['spindle'][key])} | "
                     f"{fmt(summary['ratio_spindle_over_skein'][key], '', 3)} |")
    lines += ["", "| order | system | application | id printed | client exited | all running |",
              "|---:|---|---|---:|---:|---:|"]
    for i, r in enumerate(runs, 1):
        running = fmt(r["running_s"])
        if r["error"]:
            running += " (error: " + r["error"].splitlines()[0][:100].replace("|", "/") + ")"
        lines.append(f"| {i} | {LABEL[r['system']]} | {r['app_id'] or '—'} | {fmt(r['id_printed_s'])} | "
                     f"{fmt(r['client_exit_s'])} | {running} |")
    return "\n".join(lines) + "\n"


def versions(bench: Bench) -> dict:
    def out(cmd: list[str], env: dict | None = None) -> str:
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    return {"spindle": out([str(bench.spindle), "--version"]),
            "skein": out([str(bench.skein.parent / "python"), "-c", "import skein; print(skein.__version__)"]),
            "java": out(["java", "-version"])}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per system (default 3)")
    ap.add_argument("--instances", type=int, default=4, help="instances of the service (default 4)")
    ap.add_argument("--spindle", default=str(REPO / "target" / "release" / "spindle"),
                    help="spindle binary (copied before use); default target/release/spindle")
    ap.add_argument("--skein-venv", default="/tmp/spindle-bench-skein-venv",
                    help=f"venv holding skein {SKEIN_VERSION}; created if missing "
                         "(default /tmp/spindle-bench-skein-venv)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per run before giving up (default 240)")
    ap.add_argument("--conf-dir", help="use this running minicluster (its READY conf dir) instead of starting one")
    ap.add_argument("--cluster-timeout", type=float, default=900,
                    help="seconds to wait for READY (the first start builds the launcher)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, spec, cluster data)")
    args = ap.parse_args()
    if not Path(args.spindle).is_file():
        ap.error(f"no spindle binary at {args.spindle} (build it or pass --spindle)")
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found on PATH")

    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="spindle-services-startup."))
    cluster_holder: list[Minicluster] = []
    load_start = os.getloadavg()[0]
    failed = False
    try:
        bench = setup(args, tmp, cluster_holder)
        # Untimed: spindle stages its binary (once per content hash), Skein writes its
        # certificates into SKEIN_CONFIG; both warm the page cache and the cluster.
        for system in SYSTEMS:
            log(f"warm-up: {system}")
            r = measure(bench, system)
            if r["error"]:
                raise BenchError(f"warm-up of {system} failed: {r['error']}")
            log(f"warm-up {system}: {r['app_id']} all running {fmt(r['running_s'])}")
        runs: list[dict] = []
        for i in range(args.runs):
            # Alternate who goes first, so drift in the machine's load hits both alike.
            for system in (SYSTEMS if i % 2 == 0 else SYSTEMS[::-1]):
                r = measure(bench, system)
                log(f"run {i + 1} {system}: {r['app_id']} id {fmt(r['id_printed_s'])}, client exit "
                    f"{fmt(r['client_exit_s'])}, all running {fmt(r['running_s'])}")
                runs.append(r)
        cfg = {"instances": args.instances, "runs": args.runs, "cpus": os.cpu_count(),
               "load_start": load_start, "load_end": os.getloadavg()[0],
               "memory_mb": MEMORY_MB, "vcores": 1, "script": " ".join(SCRIPT),
               "spec": spec_text(args.instances), "skein_driver": "cold (started by every client)",
               "kernel": platform.release(), "versions": versions(bench),
               "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        summary = summarize(runs)
        print(render(cfg, runs, summary))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"config": cfg, "runs": runs, "medians": summary}, indent=2) + "\n")
            log(f"wrote {args.json}")
        failed = any(r["error"] for r in runs)
    except BenchError as e:
        log(f"error: {e}")
        failed = True
    except KeyboardInterrupt:
        log("interrupted")
        failed = True
    finally:
        for cluster in cluster_holder:
            log("stopping the minicluster")
            cluster.stop()
        if args.keep_tmp or failed:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
