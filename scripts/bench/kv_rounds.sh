#!/usr/bin/env bash
# Whether the key-value store slows down as it is used: `spindle bench kv` from the edge
# node, round after round, against one idle application on the repo's minicluster. Each
# round puts about 6 × OPS keys and deletes them again; a store whose cost grows with its
# history shows rising latency and master CPU from round to round.
#
#   scripts/bench/kv_rounds.sh [--rounds N] [--ops N] [--bin PATH]
#
# Prints one line per round: put and get medians (ms), sequential and 8-client puts/s,
# and the CPU seconds the application master used in the round (from /proc). Defaults:
# 8 rounds of 1000 operations, target/release/spindle. Needs java 17 and mvn (see
# scripts/minicluster.sh) and python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds=8
ops=1000
bin="$root/target/release/spindle"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --ops) ops="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "kv_rounds.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "kv_rounds.sh: no spindle binary at $bin (cargo build --release)" >&2; exit 1; }

source "$here/cluster.sh"
work="$(mktemp -d)"
app=""
cleanup() {
  [[ -n "$app" ]] && "$bin" kill "$app" >/dev/null 2>&1 || true
  stop_minicluster
  rm -rf "$work"
}
trap cleanup EXIT

start_minicluster "$work"
app="$(submit_idle_app "$bin" "$work" bench-kv-rounds)"
# The master runs from the NodeManager's copy of the binary, as `./spindle appmaster`.
am="$(pgrep -f '^\./spindle appmaster' | head -1)"
[[ -n "$am" ]] || { echo "kv_rounds.sh: cannot find the master's process" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$am/stat"; }
hz="$(getconf CLK_TCK)"
echo "round put_ms get_ms seq_puts_per_s 8_client_puts_per_s master_cpu_s"
for round in $(seq "$rounds"); do
  before="$(ticks)"
  report="$("$bin" bench kv --app "$app" --ops "$ops" --replay-keys 1000 --json)"
  used="$(( $(ticks) - before ))"
  python3 - "$round" "$used" "$hz" "$report" <<'PY'
import json, sys
r, used, hz, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
print(r, d["put_ms_median"], d["get_ms_median"], int(d["sequential_puts_per_s"]),
      int(d["concurrent_puts_per_s"]), round(used / hz, 2))
PY
done
