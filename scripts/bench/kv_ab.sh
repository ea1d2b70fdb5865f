#!/usr/bin/env bash
# Two spindle binaries' key-value stores side by side: one minicluster, one idle
# application per binary (its master runs that binary), and `spindle bench kv` against
# each in turn, round after round, so both see the same machine at the same time. For
# changes to the master whose effect is smaller than the noise between runs.
#
#   scripts/bench/kv_ab.sh BINARY_A BINARY_B [--rounds N] [--ops N] [--cpus same|apart]
#
# Prints one line per binary per round: put and get medians (ms), sequential, 8-client
# (one put at a time each) and pipelined (64 on the wire each) puts/s, and the `wait`
# wake-up median (ms); then each column's mean per binary. Which binary goes first
# alternates from round to round. Defaults: 4 rounds of 1000 operations. --cpus pins the
# masters and the bench (taskset) to CPU 0 both (same) or to CPUs 1 and 0 (apart), for
# effects that depend on whether client and server share a CPU; unpinned by default.
# Needs java 17 and mvn (see scripts/minicluster.sh), python3 and, with --cpus, taskset.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds=4
ops=1000
cpus=""
bins=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --ops) ops="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "kv_ab.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) bins+=("$1"); shift ;;
  esac
done
[[ ${#bins[@]} -eq 2 ]] || { echo "kv_ab.sh: name two spindle binaries (try --help)" >&2; exit 2; }
case "$cpus" in
  "") bench_cpu=() ;;
  same) master_cpu=0 bench_cpu=(taskset -c 0) ;;
  apart) master_cpu=1 bench_cpu=(taskset -c 0) ;;
  *) echo "kv_ab.sh: --cpus takes same or apart, not $cpus" >&2; exit 2 ;;
esac
for b in "${bins[@]}"; do
  [[ -x "$b" ]] || { echo "kv_ab.sh: no spindle binary at $b" >&2; exit 1; }
done

source "$here/cluster.sh"
work="$(mktemp -d)"
apps=()
cleanup() {
  local a
  for a in "${apps[@]}"; do "${bins[0]}" kill "$a" >/dev/null 2>&1 || true; done
  stop_minicluster
  rm -rf "$work"
}
trap cleanup EXIT

start_minicluster "$work"
apps+=("$(submit_idle_app "${bins[0]}" "$work" bench-kv-a)")
apps+=("$(submit_idle_app "${bins[1]}" "$work" bench-kv-b)")
if [[ -n "$cpus" ]]; then
  # Every thread of every master: both binaries' masters run `spindle appmaster`.
  for pid in $(pgrep -f ' appmaster --spec '); do taskset -a -p -c "$master_cpu" "$pid" >/dev/null; done
fi
: >"$work/reports"
for round in $(seq "$rounds"); do
  order=(0 1)
  (( round % 2 == 0 )) && order=(1 0)
  for i in "${order[@]}"; do
    report="$("${bench_cpu[@]}" "${bins[$i]}" bench kv --app "${apps[$i]}" --ops "$ops" --replay-keys 1000 --json)"
    echo "$i $round $report" >>"$work/reports"
  done
done
python3 - "$work/reports" "${bins[@]}" <<'PY'
import json, sys
cols = [("put_ms", "put_ms_median"), ("get_ms", "get_ms_median"),
        ("seq/s", "sequential_puts_per_s"), ("8_clients/s", "concurrent_puts_per_s"),
        ("pipelined/s", "pipelined_puts_per_s"), ("wake_ms", "wait_wakeup_ms_median")]
names = {"0": "A " + sys.argv[2], "1": "B " + sys.argv[3]}
rows = {"0": [], "1": []}
print("round binary " + " ".join(c for c, _ in cols))
for line in open(sys.argv[1]):
    i, r, report = line.split(" ", 2)
    d = json.loads(report)
    rows[i].append(d)
    print(r, names[i], " ".join(str(d[k]) for _, k in cols))
for i in ("0", "1"):
    means = [sum(d[k] for d in rows[i]) / len(rows[i]) for _, k in cols]
    print("mean", names[i], " ".join("%.2f" % m if m < 100 else "%d" % m for m in means))
PY
