#!/usr/bin/env bash
# Scan throughput and data locality on a 3-host minicluster, in one run, over the same
# files (one replica per block, placed by the NameNode):
#   1. spindle: a job that only scans (text input, count(*) per split, one writer), 3
#      workers, with locality (locality_wait 2s) and without (locality_wait 0: asks at
#      `*` only), after an untimed warm-up job that localizes the binary on every host;
#   2. plain hdfs-native: `spindle bench read`, 3 files at once and 1 at a time;
#   3. Hadoop's Java client: `FsShell -cat` of every file to /dev/null, through the
#      minicluster's jars (one stream, JVM start included).
# Prints each measurement as it goes and a Markdown table at the end. spindle's MB/s is
# bytes_read over scan_time_s (first scan start to last scan end, from the job summary);
# its wall time includes YARN start-up.
#
#   scripts/bench/locality.sh [--mb N] [--block-mb N] [--bin PATH]
#
# --mb: input size (default 4096: a smaller scan lasts under a second here, and the spread
# of YARN's container starts decides it); --block-mb: HDFS block size (default 16); --bin:
# the spindle binary (default target/release/spindle). Needs java 17 and mvn (see
# scripts/minicluster.sh) and root, or the spindle-host-N names in /etc/hosts.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mb=4096
block_mb=16
bin="$root/target/release/spindle"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mb) mb="$2"; shift 2 ;;
    --block-mb) block_mb="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "locality.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "locality.sh: no spindle binary at $bin (cargo build --release)" >&2; exit 1; }

source "$here/cluster.sh"
work="$(mktemp -d)"
trap 'stop_minicluster; rm -rf "$work"' EXIT

start_minicluster "$work" --hosts 3
put_text_input "$work" "$mb" "$block_mb"
bytes=$input_bytes
echo "input: $bytes bytes in 6 files, ${block_mb} MiB blocks" >&2
# Each host's share of the blocks (one replica each, placed at random): with locality,
# the host holding the most is the last to finish.
shares=$(java -cp "$fs_cp" org.apache.hadoop.hdfs.tools.DFSck /bench/in -files -blocks -locations 2>/dev/null |
  grep -o 'DatanodeInfoWithStorage\[[0-9.]*' | sort | uniq -c | awk '{ printf "%s%s", sep, $1; sep = "/" }')
echo "blocks per host: $shares" >&2

run_job() { # name locality_wait -> the summary JSON on stdout
  cat >"$work/$1.yaml" <<EOF
name: $1
workers: { instances: 3, vcores: 1, memory: 512 MiB }
locality_wait: $2
input:
  path: "hdfs:///bench/in/*.txt"
  format: text
  split_size: ${block_mb} MiB
stages:
  - sql: "SELECT count(*) AS n FROM input"
  # One task writes the output: each HDFS file's close can wait 0.5 s for the NameNode
  # (hdfs-native's first complete() retry), which would count as scan time.
  - coalesce: 1
output:
  path: "hdfs:///bench/out-$1"
  format: jsonl
EOF
  "$bin" submit "$work/$1.yaml" --am-memory-mb 256 --wait --json 2>>"$work/submit.log"
}

# One job summary (JSON on stdin) as: MB/s, MB/s per worker, data-local %, job s, scan s.
cat >"$work/summary.py" <<'EOF'
import json, sys
s = json.load(sys.stdin)["summary"]
l = s["locality"]
total = sum(l[k + "_bytes"] for k in ("data_local", "rack_local", "off_switch", "no_preference"))
rate = s["bytes_read"] / 1e6 / max(s["scan_time_s"], 1e-9)
local = 100 * l["data_local_bytes"] / max(total, 1)
print(f"{rate:.1f} {rate / 3:.1f} {local:.0f} {s['wall_time_s']:.1f} {s['scan_time_s']:.2f}")
EOF
summary() { python3 "$work/summary.py"; }

# Untimed: the first job on a host waits while its NodeManager localizes the spindle
# binary (about 2 s for 147 MB here); later jobs find it in the NodeManager's cache. A
# warm-up job with locality starts a worker on every host, so neither timed job pays it.
echo "spindle, warm-up job (untimed) ..." >&2
run_job warmup 2s >/dev/null
echo "spindle, locality_wait 2s ..." >&2
read -r on_rate on_per on_local on_wall on_scan < <(run_job local 2s | summary)
echo "  $on_rate MB/s ($on_per per worker), $on_local% data-local, scan ${on_scan} s, job ${on_wall} s" >&2
echo "spindle, locality_wait 0 (asks at *) ..." >&2
read -r off_rate off_per off_local off_wall off_scan < <(run_job anywhere 0s | summary)
echo "  $off_rate MB/s ($off_per per worker), $off_local% data-local, scan ${off_scan} s, job ${off_wall} s" >&2

rate() { python3 -c 'import json, sys; print(json.load(sys.stdin)["mb_per_s"])'; }
echo "hdfs-native, 3 files at once ..." >&2
native3=$("$bin" bench read 'hdfs:///bench/in/*.txt' --parallel 3 --json | rate)
echo "  $native3 MB/s" >&2
echo "hdfs-native, 1 file at a time ..." >&2
native1=$("$bin" bench read 'hdfs:///bench/in/*.txt' --parallel 1 --json | rate)
echo "  $native1 MB/s" >&2
echo "Java FsShell -cat ..." >&2
start=$(date +%s.%N)
fs -cat '/bench/in/*.txt' >/dev/null
java_s=$(python3 -c "import time; print(f'{time.time() - $start:.2f}')")
java=$(python3 -c "print(f'{$bytes / 1e6 / $java_s:.1f}')")
echo "  $java MB/s ($java_s s, JVM start included)" >&2

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
cat <<EOF

| reader ($((bytes / 1000000)) MB, 3 hosts, ${block_mb} MiB blocks) | MB/s | per reader | data-local | wall |
|---|---|---|---|---|
| spindle scan, locality_wait 2s, 3 workers | $on_rate | $on_per | $on_local% | job ${on_wall} s (scan ${on_scan} s) |
| spindle scan, locality_wait 0, asks at \`*\` | $off_rate | $off_per | $off_local% | job ${off_wall} s (scan ${off_scan} s) |
| hdfs-native, 3 files at once | $native3 | | | |
| hdfs-native, 1 file at a time | $native1 | | | |
| Java \`FsShell -cat\`, 1 stream | $java | | | ${java_s} s |

Blocks per host: $shares.
spindle (with locality) / hdfs-native (3 at once): $(ratio "$on_rate" "$native3");
spindle / Java -cat: $(ratio "$on_rate" "$java"); hdfs-native (1 at a time) / Java -cat: $(ratio "$native1" "$java")
EOF
