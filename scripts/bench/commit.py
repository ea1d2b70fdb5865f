#!/usr/bin/env python3
"""The output commit's cost on every store: publish N files (and then N more over them),
with the commit as it is and as it was before manifests (`--legacy`), side by side.

Starts an S3 server (scripts/s3-server.sh) and a MiniDFS+MiniYARN cluster
(scripts/minicluster.sh), runs `spindle bench commit` for local files, S3 and HDFS at
10, 1,000 and 10,000 files, and prints a markdown table.

usage: python3 scripts/bench/commit.py [--files 10,1000,10000] [--stores local,s3,hdfs]
"""
import argparse, json, os, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "spindle")


def start_s3(env):
    out = subprocess.run([f"{ROOT}/scripts/s3-server.sh", "start"], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            env[k] = v.strip("'\"")


def start_hdfs(env):
    conf = tempfile.mkdtemp(prefix="spindle-bench-commit-") + "/conf"
    p = subprocess.Popen([f"{ROOT}/scripts/minicluster.sh", "--conf-dir", conf],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    for line in p.stdout:
        if line.startswith("READY"):
            env["HADOOP_CONF_DIR"] = conf
            return p
        if time.time() > deadline:
            break
    p.kill()
    sys.exit("minicluster did not start")


def url(store, tag):
    if store == "local":
        return tempfile.mkdtemp(prefix="spindle-bench-") + "/out"
    if store == "s3":
        return f"s3://spindle-test/bench-{tag}/out"
    return f"hdfs:///bench-{tag}/out"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", default="10,1000,10000")
    ap.add_argument("--stores", default="local,s3,hdfs")
    a = ap.parse_args()
    stores = a.stores.split(",")
    env = dict(os.environ)
    cluster = None
    if "s3" in stores:
        start_s3(env)
    if "hdfs" in stores:
        cluster = start_hdfs(env)
    rows = []
    try:
        for store in stores:
            for n in [int(x) for x in a.files.split(",")]:
                cell = {}
                for legacy in (True, False):
                    tag = f"{os.getpid()}-{n}-{int(legacy)}-{time.time_ns()}"
                    cmd = [BIN, "bench", "commit", "--output", url(store, tag),
                           "--files", str(n), "--json"] + (["--legacy"] if legacy else [])
                    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
                    if r.returncode != 0:
                        sys.exit(f"{' '.join(cmd)} failed: {r.stderr}")
                    cell[legacy] = json.loads(r.stdout)
                rows.append((store, n, cell[True], cell[False]))
                print(f"{store} {n}: before {cell[True]} after {cell[False]}", file=sys.stderr)
    finally:
        if cluster:
            cluster.stdin.close()
            cluster.wait(timeout=60)
        if "s3" in stores:
            subprocess.run([f"{ROOT}/scripts/s3-server.sh", "stop"])
    print("| store | files | before: first | after: first | before: replace | after: replace |")
    print("|---|---:|---:|---:|---:|---:|")
    for store, n, old, new in rows:
        print(f"| {store} | {n:,} | {old['first_s']:.3f} s | {new['first_s']:.3f} s "
              f"| {old['replace_s']:.3f} s | {new['replace_s']:.3f} s |")


if __name__ == "__main__":
    main()
