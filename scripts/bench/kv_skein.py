#!/usr/bin/env python3
"""Skein's key-value store, measured from the edge node the way `spindle bench kv` measures
spindle's (src/bench_kv.rs), for scripts/bench/kv.sh.

  kv_skein.py --conf-dir DIR --work DIR --ops N --out PATH [--app-id-file PATH]
              [--skein-venv DIR]

Installs skein into the venv if missing (services_startup.ensure_skein), sets up what its
Java driver needs against the running minicluster (services_startup.skein_environment:
stub `yarn`, private SKEIN_CONFIG, conf copy with yarn.application.classpath), then
re-runs itself with the venv's Python, where it submits one application (AM and one
service `sleep 3600`, 256 MiB / 1 vcore each), writes its id to --app-id-file, measures
with Skein's Python client and writes one JSON object to --out with the keys of
`spindle bench kv --json`; the pipelined and replay figures are null (Skein's client has
no pipelined put and its store no journal). The application is killed at the end.

As in src/bench_kv.rs: 16-byte values; N sequential puts (latency median/p99 and N over
their total time), then N gets; then 8 threads, each with its own ApplicationClient
(all connected before the clock starts, as spindle's bench connects its clients) doing
N/8 puts one at a time; then 20 `wait` wake-ups, each from a fresh ApplicationClient that waits 50 ms
before the put. Every ApplicationClient gets its own TCP connection: gRPC would otherwise
share one among channels to the same address with the same arguments. The Java driver
(the `skein.Client`, which connects ApplicationClients through the ResourceManager) is
shared. Before timing, one untimed pass of N puts and N gets warms the AM's JVM, as the
in-container run warms spindle's master before its edge-node run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLIENTS = 8
WAKEUPS = 20
MEMORY_MB = 256
SPEC = f"""\
name: bench-kv-skein
queue: default
master:
  resources: {{ memory: {MEMORY_MB}, vcores: 1 }}
services:
  bench:
    resources: {{ memory: {MEMORY_MB}, vcores: 1 }}
    script: sleep 3600
"""


def log(msg: str) -> None:
    print(f"[kv-skein] {msg}", file=sys.stderr, flush=True)


def setup_and_reexec(args: argparse.Namespace) -> None:
    """Outside the venv: install skein, build the driver's environment, re-run in the venv."""
    sys.path.insert(0, str(HERE))
    from services_startup import ensure_skein, skein_environment  # noqa: E402
    from yarn_startup import MINICLUSTER, run  # noqa: E402

    exe = ensure_skein(Path(args.skein_venv))
    hadoop_cp = run([str(MINICLUSTER), "--print-classpath"], what="minicluster.sh --print-classpath").strip()
    env, _ = skein_environment(Path(args.work), Path(args.conf_dir), hadoop_cp, exe)
    py = str(exe.parent / "python")
    os.execve(py, [py, __file__, *sys.argv[1:], "--in-venv"], env)


def percentile(samples: list[float], p: int) -> float:
    s = sorted(samples)
    return s[min(len(s) * p // 100, len(s) - 1)]


def ms(seconds: float) -> float:
    return round(seconds * 1e5) / 100


def own_connections(skein) -> None:
    """Give every ApplicationClient its own TCP connection (see the module's docstring)."""
    import grpc

    def secure_channel(address, security):
        creds = grpc.ssl_channel_credentials(security._get_bytes("cert"), security._get_bytes("key"),
                                             security._get_bytes("cert"))
        return grpc.secure_channel(address, creds, [("grpc.ssl_target_name_override", "skein-internal"),
                                                    ("grpc.default_authority", "skein-internal"),
                                                    ("grpc.use_local_subchannel_pool", 1)])
    skein.core.secure_channel = secure_channel


def measure(client, app_id: str, ops: int) -> dict:
    app = client.connect(app_id)
    kv = app.kv
    value = b"x" * 16
    while not app.get_containers(services=["bench"], states=["RUNNING"]):
        time.sleep(0.1)
    log(f"{app_id}: service running; warming up ({ops} puts and gets, untimed)")
    for i in range(ops):
        kv[f"warm/{i:07}"] = value
    for i in range(ops):
        kv.get(f"warm/{i:07}")
    kv.discard_prefix("warm/")

    log("measuring")
    puts = []
    started = time.perf_counter()
    for i in range(ops):
        t = time.perf_counter()
        kv[f"bench/seq/{i:07}"] = value
        puts.append(time.perf_counter() - t)
    sequential = ops / (time.perf_counter() - started)
    gets = []
    for i in range(ops):
        t = time.perf_counter()
        kv.get(f"bench/seq/{i:07}")
        gets.append(time.perf_counter() - t)

    per_client = max(ops // CLIENTS, 1)
    errors: list[BaseException] = []

    def putter(c, k: int) -> None:
        try:
            for i in range(per_client):
                c.kv[f"bench/con/{k}/{i:07}"] = value
        except BaseException as e:  # noqa: BLE001  (reported by the main thread)
            errors.append(e)

    # Connected before the clock starts, as spindle's bench does: the store is measured,
    # not the lookups.
    conns = [client.connect(app_id, wait=False) for _ in range(CLIENTS)]
    threads = [threading.Thread(target=putter, args=(c, k)) for k, c in enumerate(conns)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = per_client * CLIENTS / (time.perf_counter() - started)
    if errors:
        raise errors[0]
    for c in conns:
        c.close()

    wakes = []
    for i in range(WAKEUPS):
        key = f"bench/wake/{i}"
        waiter = client.connect(app_id, wait=False)
        woke: list[float] = []
        t = threading.Thread(target=lambda: (waiter.kv.wait(key), woke.append(time.perf_counter())))
        t.start()
        time.sleep(0.05)
        put_at = time.perf_counter()
        kv[key] = b"\x01"
        t.join(30)
        if not woke:
            raise RuntimeError(f"no waiter woke within 30 s of the put of {key}")
        wakes.append(woke[0] - put_at)
        waiter.close()
    kv.discard_prefix("bench/")
    return {
        "put_ms_median": ms(percentile(puts, 50)),
        "put_ms_p99": ms(percentile(puts, 99)),
        "get_ms_median": ms(percentile(gets, 50)),
        "get_ms_p99": ms(percentile(gets, 99)),
        "sequential_puts_per_s": round(sequential),
        "concurrent_puts_per_s": round(concurrent),
        "concurrent_clients": CLIENTS,
        "pipelined_puts_per_s": None,
        "pipeline_window": None,
        "wait_wakeup_ms_median": ms(percentile(wakes, 50)),
        "replay_s": None,
        "replay_keys": None,
        "app_id": app_id,
        "warmup_ops": ops,
    }


def in_venv(args: argparse.Namespace) -> None:
    import skein

    own_connections(skein)
    log(f"starting Skein {skein.__version__}'s driver")
    with skein.Client(log=str(Path(args.work) / "skein-driver.log")) as client:
        app_id = client.submit(skein.ApplicationSpec.from_yaml(SPEC))
        if args.app_id_file:
            Path(args.app_id_file).write_text(app_id + "\n")
        log(f"submitted {app_id}")
        try:
            report = measure(client, app_id, args.ops)
        finally:
            client.kill_application(app_id)
    report["system"] = f"Skein {skein.__version__}"
    Path(args.out).write_text(json.dumps(report) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conf-dir", required=True, help="the running minicluster's conf dir")
    ap.add_argument("--work", required=True, help="a scratch dir (Skein's conf copy, certificates, driver log)")
    ap.add_argument("--ops", type=int, default=1000, help="operations per measurement (default 1000)")
    ap.add_argument("--out", required=True, help="where to write the JSON report")
    ap.add_argument("--app-id-file", help="write the Skein application's id here once submitted")
    ap.add_argument("--skein-venv", default="/tmp/spindle-bench-skein-venv",
                    help="venv holding skein; created if missing (default /tmp/spindle-bench-skein-venv)")
    ap.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_venv:
        in_venv(args)
    else:
        setup_and_reexec(args)


if __name__ == "__main__":
    main()
