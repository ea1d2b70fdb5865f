#!/usr/bin/env bash
# `spindle run` over HDFS whose DataNodes are on other hosts than its workers: a
# 3-host minicluster (spindle-host-1..3), the job's 2 local workers on none of them, so
# every scan is off-switch and no worker is coming for any. Two binaries, alternating,
# the same job (text input, count(*) per split, one writer) with `locality_wait` 2s:
# prints each run's wall and scan time from the job summary, and the medians.
#
#   scripts/bench/remote_scans.sh --a BIN --b BIN [--mb N] [--block-mb N] [--rounds N]
#
# --mb: input size (default 384); --block-mb: HDFS block size (default 16); --rounds:
# runs per binary (default 3). Needs java 17 and mvn (see scripts/minicluster.sh) and
# root, or the spindle-host-N names in /etc/hosts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mb=384
block_mb=16
rounds=3
a=""
b=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --a) a="$2"; shift 2 ;;
    --b) b="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    --block-mb) block_mb="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "remote_scans.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
for bin in "$a" "$b"; do
  [[ -x "$bin" ]] || { echo "remote_scans.sh: --a and --b name spindle binaries" >&2; exit 2; }
done

source "$here/cluster.sh"
work="$(mktemp -d)"
trap 'stop_minicluster; rm -rf "$work"' EXIT

start_minicluster "$work" --hosts 3
put_text_input "$work" "$mb" "$block_mb"
bytes=$input_bytes
echo "input: $bytes bytes in 6 files, ${block_mb} MiB blocks; workers on $(hostname)" >&2

cat >"$work/job.yaml" <<EOF
name: remote-scans
workers: { instances: 2 }
locality_wait: 2s
input:
  path: "hdfs:///bench/in/*.txt"
  format: text
  split_size: ${block_mb} MiB
stages:
  - sql: "SELECT count(*) AS n FROM input"
  - coalesce: 1
output:
  path: "/tmp/remote-scans-out"
  format: jsonl
  mode: overwrite
EOF

cat >"$work/summary.py" <<'EOF'
import json, sys
s = json.load(sys.stdin)
l = s["locality"]
print(f"{s['wall_time_s']:.2f} {s['scan_time_s']:.2f} {l['off_switch']}")
EOF

declare -A walls
for round in $(seq 1 "$rounds"); do
  for which in a b; do
    bin="${!which}"
    read -r wall scan off < <("$bin" run "$work/job.yaml" --json --quiet | python3 "$work/summary.py")
    echo "round $round $which: job ${wall} s, scan ${scan} s, $off off-switch scans" >&2
    walls[$which]+="$wall "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ma=$(echo "${walls[a]}" | median)
mb_=$(echo "${walls[b]}" | median)
echo "median job wall: a $ma s, b $mb_ s (a: $a, b: $b)"
