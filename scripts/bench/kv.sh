#!/usr/bin/env bash
# The key-value store's latency and throughput: spindle's from inside a container of an
# application and from the edge node, and Skein's from the edge node, in one run on the
# repo's minicluster. Prints the three JSON reports, the load average as each started,
# and one Markdown table.
#
#   scripts/bench/kv.sh [--ops N] [--bin PATH] [--skein-venv DIR]
#
# --ops: operations per measurement, for all three (default 1000); --bin: the spindle
# binary (default target/release/spindle); --skein-venv: the venv holding skein 0.8.2,
# created from PyPI if missing (default /tmp/spindle-bench-skein-venv). Spindle runs
# `spindle bench kv` (src/bench_kv.rs); Skein is measured the same way with its Python
# client by kv_skein.py, which runs last. Each of the three first puts and gets --ops
# keys untimed (a warm-up: the DataNode's and Skein's JVMs compile their paths). Needs
# java 17 and mvn for the minicluster (see scripts/minicluster.sh) and python3 >= 3.11
# (or PYTHON=...).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ops=1000
bin="$root/target/release/spindle"
venv=/tmp/spindle-bench-skein-venv
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ops) ops="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --skein-venv) venv="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "kv.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "kv.sh: no spindle binary at $bin (cargo build --release)" >&2; exit 1; }
source "$here/python.sh" kv.sh

source "$here/cluster.sh"
work="$(mktemp -d)"
app=""
cleanup() {
  local a
  for a in "$app" "$(cat "$work/skein-app" 2>/dev/null)"; do
    [[ -n "$a" ]] && HADOOP_CONF_DIR="$work/conf" "$bin" kill "$a" >/dev/null 2>&1 || true
  done
  stop_minicluster
  rm -rf "$work"
}
trap cleanup EXIT

start_minicluster "$work"

cat >"$work/app.yaml" <<EOF
name: bench-kv
services:
  bench:
    resources: { memory: 256, vcores: 1 }
    script: |
      spindle bench kv --app "\$SPINDLE_APPLICATION_ID" --ops $ops --warmup $ops --json > result.json
      spindle kv put result/in-container < result.json
      sleep 3600
EOF
app="$("$bin" submit "$work/app.yaml" --am-memory-mb 256 | tail -1)"
load() { cut -d' ' -f1 /proc/loadavg; }
loads="container $(load)"
echo "kv.sh: $app: measuring from inside its container" >&2
"$bin" kv wait result/in-container --timeout 30m --app "$app" >"$work/container.json"
loads="$loads, edge $(load)"
echo "kv.sh: measuring from the edge node" >&2
"$bin" bench kv --app "$app" --ops "$ops" --warmup "$ops" --json >"$work/edge.json"
loads="$loads, Skein $(load)"
echo "kv.sh: Skein, from the edge node" >&2
mkdir "$work/skein"
"$py" "$here/kv_skein.py" --conf-dir "$work/conf" --work "$work/skein" --ops "$ops" \
  --out "$work/skein.json" --app-id-file "$work/skein-app" --skein-venv "$venv" ||
  { echo "kv.sh: the Skein measurement failed; its driver's log:" >&2
    tail -30 "$work/skein/skein-driver.log" >&2 2>/dev/null; exit 1; }
echo "spindle, in a container: $(cat "$work/container.json")"
echo "spindle, edge node:      $(cat "$work/edge.json")"
echo "Skein, edge node:        $(cat "$work/skein.json")"
echo "1-minute load average as each measurement started: $loads"
"$py" - "$work/container.json" "$work/edge.json" "$work/skein.json" <<'EOF'
import json, sys
inside, edge, skein = (json.load(open(p)) for p in sys.argv[1:4])
rows = [
    ("put, median / p99 (ms)", "put_ms_median", "put_ms_p99"),
    ("get, median / p99 (ms)", "get_ms_median", "get_ms_p99"),
    ("sequential puts /s", "sequential_puts_per_s", None),
    ("puts from %d clients, one at a time each /s" % edge["concurrent_clients"], "concurrent_puts_per_s", None),
    ("puts from %d clients, %d on the wire each /s" % (edge["concurrent_clients"], edge["pipeline_window"]), "pipelined_puts_per_s", None),
    ("`wait` wake-up, median (ms)", "wait_wakeup_ms_median", None),
    ("replay of %d keys (s)" % edge["replay_keys"], "replay_s", None),
]
absent = {"pipelined_puts_per_s": "no pipelined put", "replay_s": "no journal"}
print(f"| measure | spindle, in a container | spindle, edge node | {skein['system']}, edge node |")
print("|---|---:|---:|---:|")
for name, a, b in rows:
    cell = lambda r: absent.get(a, "—") if r[a] is None else f"{r[a]} / {r[b]}" if b else f"{r[a]}"
    print(f"| {name} | {cell(inside)} | {cell(edge)} | {cell(skein)} |")
EOF
