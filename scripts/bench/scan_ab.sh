#!/usr/bin/env bash
# One worker's scan against plain hdfs-native, two binaries side by side: a 1-host
# minicluster holds about 776 MB of text in 6 files (16 MiB blocks); each round reads
# them with `spindle bench read --parallel 1` (plain hdfs-native, one file at a time),
# then runs a local `spindle run` of count(*) over them with 1 worker, once per binary.
# Prints each measurement (MB/s = bytes_read / scan_time_s from the job summary).
#
#   scripts/bench/scan_ab.sh BINARY_A BINARY_B [--rounds N] [--workers N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds=3
workers=1
bins=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) [[ -x "$1" ]] || { echo "scan_ab.sh: $1 is not an executable" >&2; exit 2; }; bins+=("$1"); shift ;;
  esac
done
[[ ${#bins[@]} -eq 2 ]] || { echo "scan_ab.sh: give two binaries (try --help)" >&2; exit 2; }
source "$here/cluster.sh"
work="$(mktemp -d)"
trap 'stop_minicluster; rm -rf "$work"' EXIT
start_minicluster "$work" --hosts 1
put_text_input "$work" 768 16
echo "input: $input_bytes bytes in 6 files, 16 MiB blocks" >&2
cat >"$work/job.yaml" <<Y
name: scan
input:
  path: "hdfs:///bench/in/*.txt"
  format: text
  split_size: 16 MiB
stages:
  - sql: "SELECT count(*) AS n FROM input"
  - coalesce: 1
output:
  path: "$work/out"
  format: jsonl
  mode: overwrite
Y
rate='import json, sys; s = json.load(sys.stdin); s = s.get("summary", s); print(round(s["bytes_read"] / 1e6 / s["scan_time_s"], 1))'
for r in $(seq "$rounds"); do
  plain=$("${bins[0]}" bench read 'hdfs:///bench/in/*.txt' --parallel 1 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["mb_per_s"])')
  line="round $r: hdfs-native $plain MB/s"
  for b in "${bins[@]}"; do
    got=$("$b" run "$work/job.yaml" --workers "$workers" --json 2>/dev/null | python3 -c "$rate")
    line+=", $b $got MB/s"
  done
  echo "$line"
done
