#!/usr/bin/env python3
"""YARN start-up of spindle vs Hadoop's DistributedShell on the repo's real minicluster.

Both systems get the same cluster, container count and container sizes (AM 256 MiB,
N workers of 256 MiB / 1 vcore) in the same run, alternating, after one untimed warm-up
each. Every time is wall clock from the moment the submitting client process starts:

  submitted_s        the client has printed the application id
  am_registered_s    `spindle status <app> --json` says RUNNING (YARN's RUNNING means
                     the AM registered), for both systems
  workers_running_s  all N worker processes have been seen in /proc (polled every 20 ms
                     once the app is RUNNING, for both): `<...>spindle worker --master
                     <am_host>:<am_rpc_port>` for spindle, `sleep <unique token>` for
                     DistributedShell's shell containers

plus the wall time of `spindle status <app>` against `yarn application -status <app>`
(ApplicationCLI in a JVM), median of 5 each. Prints a Markdown table; --json writes
everything. Python 3.11 stdlib only; needs java and mvn (see scripts/minicluster.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MINICLUSTER = REPO / "scripts" / "minicluster.sh"
DSHELL_ARTIFACT = "org.apache.hadoop:hadoop-yarn-applications-distributedshell:3.4.2"
DSHELL_JAR = "hadoop-yarn-applications-distributedshell-3.4.2.jar"
DSHELL_CLIENT = "org.apache.hadoop.yarn.applications.distributedshell.Client"
APP_CLI = "org.apache.hadoop.yarn.client.cli.ApplicationCLI"
# The version the minicluster's pom pins, so no other plugin version gets downloaded.
DEP_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
# The JVM flags scripts/minicluster.sh starts Hadoop with; Hadoop 3.4 on Java 17 needs them.
JVM_FLAGS = ["-XX:+IgnoreUnrecognizedVMOptions", "-Djava.net.preferIPv4Stack=true"] + [
    f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
    for pkg in (
        "java.io java.lang java.lang.reflect java.math java.net java.text java.util "
        "java.util.concurrent java.util.zip sun.security.util sun.security.x509"
    ).split()
]
TERMINAL = {"FINISHED", "FAILED", "KILLED"}
MEMORY_MB = 256
POLL_S = 0.02


def log(msg: str) -> None:
    print(f"[yarn-startup] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- cluster


class Minicluster:
    """scripts/minicluster.sh in its own process group: READY on stdout, stop = SIGTERM."""

    def __init__(self, conf_dir: Path, log_path: Path):
        self.conf_dir = conf_dir
        self.log_file = open(log_path, "ab")
        self.log_path = log_path
        # stdin stays open: the launcher stops by itself if this script dies and it closes.
        self.proc = subprocess.Popen(
            [str(MINICLUSTER), "--conf-dir", str(conf_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log_file,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float) -> None:
        ready = threading.Event()

        def drain() -> None:
            # Keep reading after READY so the launcher never blocks on a full pipe.
            for raw in self.proc.stdout:
                if raw.startswith(b"READY "):
                    ready.set()
                self.log_file.write(b"[stdout] " + raw)
                self.log_file.flush()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.2):
            if self.proc.poll() is not None:
                raise BenchError(f"minicluster exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise BenchError(f"minicluster not READY after {timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.log_file.close()


@dataclass
class Bench:
    """Everything a measurement needs; built once by setup()."""

    tmp: Path
    spindle: Path
    conf_dir: Path
    hadoop_cp: str
    dshell_jar: Path
    dshell_conf: Path
    dshell_log4j: Path
    workers: int
    timeout_s: float
    hold_s: int
    session: str
    env: dict = field(default_factory=dict)
    input_url: str = ""
    seq: int = 0

    def next_id(self) -> int:
        self.seq += 1
        return self.seq


def run(cmd: list[str], env: dict | None = None, timeout: float = 600, what: str = "") -> str:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        raise BenchError(f"{what or cmd[0]} failed ({p.returncode}):\n{tail}")
    return p.stdout


def fetch_dshell_jar(dest: Path) -> Path:
    """Resolve DistributedShell from Maven Central (or ~/.m2) into dest; idempotent."""
    jar = dest / DSHELL_JAR
    if not jar.exists():
        run(["mvn", "-q", "-B", "-Dstyle.color=never", f"{DEP_PLUGIN}:copy",
             f"-Dartifact={DSHELL_ARTIFACT}", f"-DoutputDirectory={dest}"],
            what="mvn dependency:copy (DistributedShell)")
    if not jar.exists():
        raise BenchError(f"mvn did not produce {jar}")
    return jar


def write_dshell_conf(conf_dir: Path, dest: Path, hadoop_cp: str) -> None:
    """A copy of the cluster's conf for the DistributedShell client, with the AM class path.

    DShell builds its AM's CLASSPATH from yarn.application.classpath (default: a Hadoop
    install's share/ dirs, absent here). Rather than rely on its minicluster fallback
    (append the client's own class path when yarn.is.minicluster is set), name the class
    path explicitly, as a real deployment does: the cluster's conf dir (the AM must find
    yarn-site.xml) and the minicluster jars.
    """
    shutil.copytree(conf_dir, dest, dirs_exist_ok=True)
    path = dest / "yarn-site.xml"
    tree = ET.parse(path)
    root = tree.getroot()
    for prop in list(root.iter("property")):
        if prop.findtext("name") == "yarn.application.classpath":
            root.remove(prop)
    prop = ET.SubElement(root, "property")
    ET.SubElement(prop, "name").text = "yarn.application.classpath"
    ET.SubElement(prop, "value").text = f"{conf_dir}:{hadoop_cp}"
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_input(bench: Bench) -> str:
    """Upload a small text file to HDFS with a local spindle job, >= 2N splits of 1 KiB."""
    lines = (2 * bench.workers + 2) * 20  # ~50 B a line: ~1 KiB per 20 lines
    local = bench.tmp / "input" / "in.txt"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("".join(f"line {i:06d} {'x' * 38}\n" for i in range(lines)))
    url = f"hdfs:///bench/startup/{bench.session}/in"
    spec = bench.tmp / "input" / "copy.yaml"
    spec.write_text(
        "name: startup-bench-input\n"
        "workers: { instances: 1, memory: 256 MiB, vcores: 1 }\n"
        f'input: {{ path: "{local}", format: text }}\n'
        "stages: []\n"
        f'output: {{ path: "{url}", format: csv, mode: overwrite }}\n'
    )
    run([str(bench.spindle), "run", str(spec), "--quiet"], env=bench.env, what="spindle run (input upload)")
    return url


# --------------------------------------------------------------------------- processes


def proc_argvs(prefilter: tuple[bytes, ...]):
    """(pid, argv) of every process whose argv[0] ends with one of prefilter."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # gone, or a kernel thread
        argv = raw.rstrip(b"\0").split(b"\0")
        if argv and argv[0].endswith(prefilter):
            yield int(name), [a.decode(errors="replace") for a in argv]


def spindle_worker_pids(master: str) -> set[int]:
    pids = set()
    for pid, argv in proc_argvs((b"spindle",)):
        if len(argv) > 1 and argv[1] == "worker":
            if any(a == "--master" and b == master for a, b in zip(argv, argv[1:])):
                pids.add(pid)
    return pids


def dshell_container_pids(token: str) -> set[int]:
    # argv[0] must be sleep itself: the client's JVM and the container's bash wrapper
    # carry the same string in their arguments.
    return {
        pid for pid, argv in proc_argvs((b"sleep",))
        if os.path.basename(argv[0]) == "sleep" and token in argv[1:]
    }


def app_container_pids(app_id: str) -> set[int]:
    """Processes of any container of app_id, found by the CONTAINER_ID YARN exports."""
    _, ts, num = app_id.split("_")
    needle = f"_{ts}_{num}_".encode()
    pids = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        for item in env.split(b"\0"):
            if item.startswith(b"CONTAINER_ID=") and needle in item:
                pids.add(int(name))
                break
    return pids


class Client:
    """A submitting client; a reader thread tees its output to a log and finds the app id."""

    def __init__(self, cmd: list[str], env: dict, log_path: Path, pattern: re.Pattern, merge_stderr: bool):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.pattern = pattern
        self.app_id: str | None = None
        self.found_at: float | None = None  # time.monotonic() when the id was read
        self.found = threading.Event()
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else self.log,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.log.write(raw)
            self.log.flush()
            if self.app_id is None:
                m = self.pattern.search(raw.decode(errors="replace"))
                if m:
                    self.found_at = time.monotonic()
                    self.app_id = m.group(1)
                    self.found.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)
        self.log.close()


class StatePoller(threading.Thread):
    """Polls `spindle status <app> --json` until stopped; notes when RUNNING is first seen."""

    def __init__(self, bench: Bench, app_id: str, t0: float):
        super().__init__(daemon=True)
        self.bench, self.app_id, self.t0 = bench, app_id, t0
        self.running_s: float | None = None
        self.report: dict = {}
        self.error: str | None = None
        self.halt = threading.Event()

    def run(self) -> None:
        cmd = [str(self.bench.spindle), "status", self.app_id, "--json"]
        while not self.halt.is_set():
            try:
                p = subprocess.run(cmd, env=self.bench.env, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                self.error = "spindle status timed out"
                continue
            now = time.monotonic() - self.t0
            if p.returncode == 0:
                self.report = json.loads(p.stdout)
                if self.running_s is None and self.report.get("state") == "RUNNING":
                    self.running_s = now
                if self.report.get("state") in TERMINAL:
                    return
            else:
                self.error = p.stderr.strip()
            self.halt.wait(POLL_S)

    @property
    def state(self) -> str:
        return self.report.get("state", "?")


# --------------------------------------------------------------------------- one run

# Given the app's state poller (None before the app id is known): the pids of this app's
# worker processes now, or None while they cannot be identified yet.
WorkerProbe = Callable[["StatePoller | None"], "set[int] | None"]


def start_spindle(bench: Bench, k: int) -> tuple[Client, WorkerProbe]:
    spec = bench.tmp / "specs" / f"job-{k}.yaml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(
        "name: startup-bench\n"
        f"workers: {{ instances: {bench.workers}, memory: {MEMORY_MB} MiB, vcores: 1 }}\n"
        f'input: {{ path: "{bench.input_url}", format: text, split_size: 1 KiB }}\n'
        "stages:\n"
        f'  - command: "sleep {bench.hold_s}; cat"\n'
        f'output: {{ path: "hdfs:///bench/startup/{bench.session}/out-{k}", format: csv, mode: overwrite }}\n'
    )
    cmd = [str(bench.spindle), "submit", str(spec), "--am-memory-mb", str(MEMORY_MB),
           "--workers", str(bench.workers)]
    # The id is alone on the last line of stdout; progress goes to stderr (the log).
    client = Client(cmd, bench.env, bench.tmp / "logs" / f"spindle-submit-{k}.log",
                    re.compile(r"^(application_\d+_\d+)\s*$"), merge_stderr=False)

    def workers_seen(poller: StatePoller | None) -> set[int] | None:
        r = poller.report if poller else {}
        if poller is None or poller.running_s is None or not r.get("am_host"):
            return None  # the master's address is unknown until the AM registers
        return spindle_worker_pids(f"{r['am_host']}:{r['am_rpc_port']}")

    return client, workers_seen


def start_dshell(bench: Bench, k: int) -> tuple[Client, WorkerProbe]:
    # A sleep time no other process on the machine has: <hold>.<6 random digits>.
    token = f"{bench.hold_s}.{random.randrange(10**5, 10**6)}"
    cmd = ["java", *JVM_FLAGS, f"-Dlog4j.configuration=file:{bench.dshell_log4j}",
           "-cp", f"{bench.dshell_conf}:{bench.dshell_jar}:{bench.hadoop_cp}", DSHELL_CLIENT,
           "-jar", str(bench.dshell_jar), "-appname", "startup-bench-dshell",
           "-shell_command", f"sleep {token}", "-num_containers", str(bench.workers),
           "-container_memory", str(MEMORY_MB), "-container_vcores", "1",
           "-master_memory", str(MEMORY_MB), "-master_vcores", "1", "-timeout", "600000"]
    client = Client(cmd, bench.env, bench.tmp / "logs" / f"dshell-client-{k}.log",
                    re.compile(r"Submitted application (application_\d+_\d+)"), merge_stderr=True)

    def workers_seen(poller: StatePoller | None) -> set[int] | None:
        # Containers cannot exist before the AM registers; scanning only from then on
        # costs both systems the same /proc polling.
        if poller is None or poller.running_s is None:
            return None
        return dshell_container_pids(token)

    return client, workers_seen


def measure(bench: Bench, system: str) -> dict:
    """One submission: times to app id, AM registered and all workers running; then clean up."""
    k = bench.next_id()
    starter = start_spindle if system == "spindle" else start_dshell
    t0 = time.monotonic()
    client, workers_seen = starter(bench, k)
    res = {"system": system, "app_id": None, "submitted_s": None, "am_registered_s": None,
           "workers_running_s": None, "error": None}
    poller: StatePoller | None = None
    seen: set[int] = set()  # cumulative: a worker that already exited still started
    try:
        while True:
            if poller is None and client.found.is_set():
                res["app_id"], res["submitted_s"] = client.app_id, client.found_at - t0
                poller = StatePoller(bench, client.app_id, t0)
                poller.start()
            if res["workers_running_s"] is None:
                pids = workers_seen(poller)
                if pids is not None:
                    seen |= pids
                    if len(seen) >= bench.workers:
                        res["workers_running_s"] = time.monotonic() - t0
            now = time.monotonic() - t0
            if poller and res["workers_running_s"] is not None and poller.running_s is not None:
                break
            if poller is None and client.proc.poll() is not None:
                client.reader.join(5)
                if not client.found.is_set():
                    raise BenchError(f"{system} client exited ({client.proc.returncode}) without an "
                                     f"application id; see {client.log_path}")
            if poller and poller.state in TERMINAL:
                raise BenchError(f"{res['app_id']} ended {poller.state} before its workers were seen: "
                                 f"{poller.report.get('diagnostics', '')[:300]}")
            if now > bench.timeout_s:
                raise BenchError(f"{system} run {k}: timed out after {bench.timeout_s:.0f} s "
                                 f"(state {poller.state if poller else 'no app id'}, "
                                 f"{len(seen)}/{bench.workers} workers seen)")
            time.sleep(POLL_S)
        res["am_registered_s"] = poller.running_s
    except BenchError as e:
        res["error"] = str(e)
        log(f"error: {e}")
    finally:
        if poller:
            poller.halt.set()
        client.stop()
        # The client may have printed the id after the loop gave up.
        app_id = res["app_id"] or client.app_id
        if app_id:
            quiesce(bench, app_id)
    return res


def quiesce(bench: Bench, app_id: str) -> None:
    """Kill app_id and wait until it is terminal and none of its processes remain."""
    cmd = [str(bench.spindle), "status", app_id, "--json"]
    deadline = time.monotonic() + 90
    killed = False
    while time.monotonic() < deadline:
        p = subprocess.run(cmd, env=bench.env, capture_output=True, text=True, timeout=60)
        state = json.loads(p.stdout).get("state") if p.returncode == 0 else "?"
        if state in TERMINAL:
            break
        if not killed:
            subprocess.run([str(bench.spindle), "kill", app_id], env=bench.env,
                           capture_output=True, timeout=60)
            killed = True
        time.sleep(0.2)
    else:
        log(f"warning: {app_id} not terminal after 90 s")
    while time.monotonic() < deadline and app_container_pids(app_id):
        time.sleep(0.2)


# --------------------------------------------------------------------------- status cmds


def time_status_commands(bench: Bench, app_id: str, reps: int) -> dict:
    """Wall time of `spindle status` vs ApplicationCLI's `application -status`, alternating."""
    spindle_cmd = [str(bench.spindle), "status", app_id]
    jvm_cmd = ["java", *JVM_FLAGS, "-cp", f"{bench.conf_dir}:{bench.hadoop_cp}", APP_CLI,
               "application", "-status", app_id]

    def once(cmd: list[str], expect: str) -> float:
        what = "spindle status" if cmd is spindle_cmd else "ApplicationCLI -status"
        t = time.monotonic()
        out = run(cmd, env=bench.env, timeout=120, what=what)
        dt = time.monotonic() - t
        if expect not in out:
            raise BenchError(f"{what}: no {expect!r} in its output")
        return dt

    # One untimed call each, so both read their binaries/jars from a warm page cache.
    once(spindle_cmd, app_id)
    once(jvm_cmd, app_id)
    spindle_s, jvm_s = [], []
    for _ in range(reps):
        spindle_s.append(once(spindle_cmd, app_id))
        jvm_s.append(once(jvm_cmd, app_id))
    return {"app_id": app_id, "spindle_status_s": spindle_s, "yarn_application_status_s": jvm_s,
            "spindle_median_s": statistics.median(spindle_s),
            "jvm_median_s": statistics.median(jvm_s)}


# --------------------------------------------------------------------------- report

METRICS = [
    ("submitted_s", "client printed the application id"),
    ("am_registered_s", "AM registered (state RUNNING)"),
    ("workers_running_s", "all {n} worker processes running"),
]


def summarize(runs: list[dict]) -> dict:
    out = {}
    for system in ("spindle", "dshell"):
        out[system] = {}
        for key, _ in METRICS:
            vals = [r[key] for r in runs if r["system"] == system and r[key] is not None and not r["error"]]
            out[system][key] = statistics.median(vals) if vals else None
    out["ratio_spindle_over_dshell"] = {
        key: (out["spindle"][key] / out["dshell"][key]
              if out["spindle"][key] is not None and out["dshell"][key] else None)
        for key, _ in METRICS
    }
    return out


def fmt(v: float | None, unit: str = "s", digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}{unit}"


def render(cfg: dict, runs: list[dict], summary: dict, status: dict | None) -> str:
    n = cfg["workers"]
    lines = [
        f"## YARN start-up: spindle vs DistributedShell ({n} workers, {cfg['runs']} runs each)",
        "",
        f"Minicluster (1 NodeManager), AM {MEMORY_MB} MiB, workers {MEMORY_MB} MiB / 1 vcore; "
        f"{cfg['cpus']} CPUs, load average {cfg['load_start']:.2f} at start, "
        f"{cfg['load_end']:.2f} at end. Seconds from the submitting client's start, median.",
        "",
        "| metric | spindle | DistributedShell | spindle / dshell |",
        "|---|---:|---:|---:|",
    ]
    for key, label in METRICS:
        lines.append(f"| {label.format(n=n)} | {fmt(summary['spindle'][key])} | "
                     f"{fmt(summary['dshell'][key])} | {fmt(summary['ratio_spindle_over_dshell'][key], '', 3)} |")
    if status:
        s, j = status["spindle_median_s"], status["jvm_median_s"]
        reps = len(status["spindle_status_s"])
        lines += [
            "",
            f"| status of one application (median of {reps}) | `spindle status` | "
            "`yarn application -status` (JVM) | spindle / JVM |",
            "|---|---:|---:|---:|",
            f"| wall time | {s * 1000:.0f} ms | {j * 1000:.0f} ms | {s / j:.3f} |",
        ]
    lines += ["", "| run | system | application | id printed | AM registered | workers running |",
              "|---:|---|---|---:|---:|---:|"]
    for i, r in enumerate(runs, 1):
        workers = fmt(r["workers_running_s"])
        if r["error"]:
            workers += " (error: " + r["error"].splitlines()[0][:100].replace("|", "/") + ")"
        lines.append(f"| {i} | {r['system']} | {r['app_id'] or '—'} | {fmt(r['submitted_s'])} | "
                     f"{fmt(r['am_registered_s'])} | {workers} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def setup(args: argparse.Namespace, tmp: Path, cluster_holder: list) -> Bench:
    # A private copy: target/release/spindle may be rebuilt while this runs.
    spindle = tmp / "spindle"
    shutil.copy2(args.spindle, spindle)
    spindle.chmod(0o755)
    log("resolving the Hadoop class path and DistributedShell")
    hadoop_cp = run([str(MINICLUSTER), "--print-classpath"], what="minicluster.sh --print-classpath").strip()
    dshell_jar = fetch_dshell_jar(tmp / "dshell")
    if args.conf_dir:
        conf_dir = Path(args.conf_dir).resolve()
    else:
        conf_dir = tmp / "mc" / "conf"
        log(f"starting the minicluster (log: {tmp / 'minicluster.log'})")
        cluster = Minicluster(conf_dir, tmp / "minicluster.log")
        cluster_holder.append(cluster)
        cluster.wait_ready(args.cluster_timeout)
    log(f"cluster ready: HADOOP_CONF_DIR={conf_dir}")
    dshell_conf = tmp / "dshell-conf"
    write_dshell_conf(conf_dir, dshell_conf, hadoop_cp)
    # Only the line with the application id is wanted from the DShell client's log.
    log4j = tmp / "dshell-log4j.properties"
    log4j.write_text(
        "log4j.rootLogger=WARN,stderr\n"
        "log4j.logger.org.apache.hadoop.yarn.client.api.impl.YarnClientImpl=INFO\n"
        "log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n"
        "log4j.appender.stderr.Target=System.err\n"
        "log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.stderr.layout.ConversionPattern=%d{HH:mm:ss,SSS} %-5p %c{1}: %m%n\n"
    )
    (tmp / "logs").mkdir(exist_ok=True)
    bench = Bench(tmp=tmp, spindle=spindle, conf_dir=conf_dir, hadoop_cp=hadoop_cp,
                  dshell_jar=dshell_jar, dshell_conf=dshell_conf, dshell_log4j=log4j,
                  workers=args.workers, timeout_s=args.timeout, hold_s=args.hold,
                  session=f"{int(time.time())}-{os.getpid()}",
                  env={**os.environ, "HADOOP_CONF_DIR": str(conf_dir)})
    bench.input_url = write_input(bench)
    return bench


def on_sigterm(_signum, _frame) -> None:
    """SIGTERM takes the same cleanup path as Ctrl-C: kill apps, stop the cluster."""
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per system (default 3)")
    ap.add_argument("--workers", type=int, default=4, help="worker containers per application (default 4)")
    ap.add_argument("--spindle", default=str(REPO / "target" / "release" / "spindle"),
                    help="spindle binary (copied before use); default target/release/spindle")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--status-reps", type=int, default=5, help="timed status calls per command (default 5)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per run before giving up (default 240)")
    ap.add_argument("--hold", type=int, default=60,
                    help="seconds a worker's task sleeps; only has to outlast start-up, "
                         "apps are killed once measured (default 60)")
    ap.add_argument("--conf-dir", help="use this running minicluster (its READY conf dir) instead of starting one")
    ap.add_argument("--cluster-timeout", type=float, default=900,
                    help="seconds to wait for READY (the first start builds the launcher)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, specs, cluster data)")
    args = ap.parse_args()
    if not Path(args.spindle).is_file():
        ap.error(f"no spindle binary at {args.spindle} (build it or pass --spindle)")
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found on PATH")

    signal.signal(signal.SIGTERM, on_sigterm)
    tmp = Path(tempfile.mkdtemp(prefix="spindle-yarn-startup."))
    cluster_holder: list[Minicluster] = []
    load_start = os.getloadavg()[0]
    failed = False
    try:
        bench = setup(args, tmp, cluster_holder)
        for system in ("spindle", "dshell"):
            log(f"warm-up: {system}")
            r = measure(bench, system)
            if r["error"]:
                raise BenchError(f"warm-up of {system} failed: {r['error']}")
        runs: list[dict] = []
        for i in range(args.runs):
            # Alternate who goes first, so drift in the machine's load hits both alike.
            for system in (("spindle", "dshell") if i % 2 == 0 else ("dshell", "spindle")):
                r = measure(bench, system)
                log(f"run {i + 1} {system}: {r['app_id']} id {fmt(r['submitted_s'])}, AM "
                    f"{fmt(r['am_registered_s'])}, workers {fmt(r['workers_running_s'])}")
                runs.append(r)
        last = next((r["app_id"] for r in reversed(runs) if r["app_id"]), None)
        status = time_status_commands(bench, last, args.status_reps) if last else None
        cfg = {"workers": args.workers, "runs": args.runs, "cpus": os.cpu_count(),
               "load_start": load_start, "load_end": os.getloadavg()[0],
               "am_memory_mb": MEMORY_MB, "worker_memory_mb": MEMORY_MB, "worker_vcores": 1,
               "spindle": str(Path(args.spindle).resolve()), "dshell": DSHELL_ARTIFACT}
        summary = summarize(runs)
        print(render(cfg, runs, summary, status))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"config": cfg, "runs": runs, "medians": summary, "status_commands": status}, indent=2) + "\n")
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
