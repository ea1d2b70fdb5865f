#!/usr/bin/env bash
# The key-value store's latency and throughput, from inside a container of an
# application and from the edge node, against the same application master in one run,
# on the repo's minicluster. Prints both `spindle bench kv` reports and a Markdown table.
#
#   scripts/bench/kv.sh [--ops N] [--bin PATH]
#
# --ops: operations per measurement (default 1000); --bin: the spindle binary (default
# target/release/spindle). Needs java 17 and mvn for the minicluster (see
# scripts/minicluster.sh) and python3 for the table.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ops=1000
bin="$root/target/release/spindle"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ops) ops="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "kv.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "kv.sh: no spindle binary at $bin (cargo build --release)" >&2; exit 1; }

work="$(mktemp -d)"
app=""
cleanup() {
  [[ -n "$app" ]] && HADOOP_CONF_DIR="$work/conf" "$bin" kill "$app" >/dev/null 2>&1 || true
  [[ -n "${cluster_pid:-}" ]] && kill "$cluster_pid" 2>/dev/null && wait "$cluster_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The minicluster stops when its stdin closes: hold it open with a fifo.
mkfifo "$work/hold"
"$root/scripts/minicluster.sh" --conf-dir "$work/conf" <"$work/hold" >"$work/ready" 2>"$work/cluster.log" &
cluster_pid=$!
exec 3>"$work/hold"
for _ in $(seq 600); do
  grep -q '^READY' "$work/ready" 2>/dev/null && break
  kill -0 "$cluster_pid" 2>/dev/null || { tail -20 "$work/cluster.log" >&2; exit 1; }
  sleep 0.5
done
grep -q '^READY' "$work/ready" || { echo "kv.sh: the minicluster did not start" >&2; exit 1; }
export HADOOP_CONF_DIR="$work/conf"

cat >"$work/app.yaml" <<EOF
name: bench-kv
services:
  bench:
    resources: { memory: 256, vcores: 1 }
    script: |
      spindle bench kv --app "\$SPINDLE_APPLICATION_ID" --ops $ops --json > result.json
      spindle kv put result/in-container < result.json
      sleep 3600
EOF
app="$("$bin" submit "$work/app.yaml" --am-memory-mb 256 | tail -1)"
echo "kv.sh: $app: measuring from inside its container" >&2
"$bin" kv wait result/in-container --timeout 30m --app "$app" >"$work/container.json"
echo "kv.sh: measuring from the edge node" >&2
"$bin" bench kv --app "$app" --ops "$ops" --json >"$work/edge.json"
echo "in a container: $(cat "$work/container.json")"
echo "edge node:      $(cat "$work/edge.json")"
python3 - "$work/container.json" "$work/edge.json" <<'EOF'
import json, sys
inside, edge = (json.load(open(p)) for p in sys.argv[1:3])
rows = [
    ("put, median / p99 (ms)", "put_ms_median", "put_ms_p99"),
    ("get, median / p99 (ms)", "get_ms_median", "get_ms_p99"),
    ("sequential puts /s", "sequential_puts_per_s", None),
    ("puts from %d clients, one at a time each /s" % edge["concurrent_clients"], "concurrent_puts_per_s", None),
    ("puts from %d clients, %d on the wire each /s" % (edge["concurrent_clients"], edge["pipeline_window"]), "pipelined_puts_per_s", None),
    ("`wait` wake-up, median (ms)", "wait_wakeup_ms_median", None),
    ("replay of %d keys (s)" % edge["replay_keys"], "replay_s", None),
]
print("| measure | in a container | edge node |")
print("|---|---:|---:|")
for name, a, b in rows:
    cell = lambda r: f"{r[a]} / {r[b]}" if b else f"{r[a]}"
    print(f"| {name} | {cell(inside)} | {cell(edge)} |")
EOF
