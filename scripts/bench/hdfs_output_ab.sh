#!/usr/bin/env bash
# A job whose every scan task writes its own part file to HDFS, two binaries side by
# side on one 3-host minicluster: about 1.4 GB of text in 6 files (16 MiB blocks, so
# about 85 tasks), 3 workers with one slot each, `spindle submit --wait`. Each HDFS file's
# close often waits 0.5 s for the NameNode to hear of its last block, so this measures
# how well a worker overlaps those waits with its next tasks. One untimed warm-up job
# per binary localizes it on every host; then each round runs the job once per binary,
# alternating which goes first, and prints the job's wall time and scan span.
#
#   scripts/bench/hdfs_output_ab.sh BINARY_A BINARY_B [--rounds N] [--mb N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rounds=3
mb=1400
bins=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) [[ -x "$1" ]] || { echo "hdfs_output_ab.sh: $1 is not an executable" >&2; exit 2; }; bins+=("$1"); shift ;;
  esac
done
[[ ${#bins[@]} -eq 2 ]] || { echo "hdfs_output_ab.sh: give two binaries (try --help)" >&2; exit 2; }
source "$here/cluster.sh"
work="$(mktemp -d)"
trap 'stop_minicluster; rm -rf "$work"' EXIT
start_minicluster "$work" --hosts 3
put_text_input "$work" "$mb" 16
echo "input: $input_bytes bytes in 6 files, 16 MiB blocks" >&2

# A job summary (JSON on stdin) as: wall s, scan s, tasks, output files.
cat >"$work/summary.py" <<'PY'
import json, sys
s = json.load(sys.stdin)["summary"]
if s["status"] != "succeeded" or s["output_files"] != s["tasks"]:
    sys.exit(f"hdfs_output_ab.sh: unexpected summary {s}")
print(f"{s['wall_time_s']:.2f} {s['scan_time_s']:.2f} {s['tasks']} {s['output_files']}")
PY
run_job() { # NAME BINARY -> "wall_s scan_s tasks output_files" on stdout
  cat >"$work/$1.yaml" <<Y
name: $1
workers: { instances: 3, vcores: 1, memory: 512 MiB }
locality_wait: 2s
input:
  path: "hdfs:///bench/in/*.txt"
  format: text
  split_size: 16 MiB
stages:
  - sql: "SELECT count(*) AS n FROM input"
output:
  path: "hdfs:///bench/out-$1"
  format: jsonl
Y
  "$2" submit "$work/$1.yaml" --am-memory-mb 256 --wait --json 2>>"$work/submit.log" |
    python3 "$work/summary.py"
}

run_job warmup-a "${bins[0]}" >/dev/null
run_job warmup-b "${bins[1]}" >/dev/null
for r in $(seq "$rounds"); do
  order=("${bins[@]}")
  ((r % 2 == 0)) && order=("${bins[1]}" "${bins[0]}")
  for i in 0 1; do
    b="${order[$i]}"
    got=$(run_job "round-$r-$i" "$b")
    read -r wall scan tasks files <<<"$got"
    echo "round $r: $b job ${wall} s, scan ${scan} s, $tasks tasks, $files files"
  done
done
