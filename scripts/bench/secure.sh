#!/usr/bin/env bash
# What Kerberos costs, in one run: the same measurements on an unsecured one-host
# minicluster and on a secure one (scripts/minicluster.sh --secure, --rpc-protection
# privacy unless told otherwise: RPC wrapped with GSSAPI/DIGEST-MD5 auth-conf, block
# data over SASL with AES):
#   1. submit to RUNNING: `spindle submit` until `spindle status` says RUNNING (the
#      binary is staged by a warm-up job first, so neither side uploads it);
#   2. job time: a scan-only job (text, count(*) per split) over the input, wall time
#      and scan MB/s from its summary;
#   3. plain hdfs-native reads: `spindle bench read`, 3 files at once;
#   4. a shuffle of every line into 4 partitions, then a count: the median wall time of
#      3 runs. On the unsecured cluster it also runs with `encrypt: true` (the sealed
#      worker traffic that privacy turns on), alternating with the plain runs, so the
#      sealing's own cost shows alone.
# Prints each measurement as it goes and a Markdown table at the end.
#
#   scripts/bench/secure.sh [--mb N] [--protection P] [--bin PATH]
#
# --mb: input size (default 512); --protection: authentication, integrity or privacy
# (default privacy); --bin: the spindle binary (default target/release/spindle). Needs
# java 17, mvn and MIT kinit (scripts/test.sh installs krb5-user).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mb=512
protection=privacy
bin="$root/target/release/spindle"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mb) mb="$2"; shift 2 ;;
    --protection) protection="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "secure.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "secure.sh: no spindle binary at $bin (cargo build --release)" >&2; exit 1; }
command -v kinit >/dev/null || { echo "secure.sh: kinit not found (apt-get install krb5-user)" >&2; exit 1; }

source "$here/cluster.sh"
top="$(mktemp -d)"
trap 'stop_minicluster; rm -rf "$top"' EXIT
cp_jars="$("$root/scripts/minicluster.sh" --print-classpath)"

mkdir "$top/data"
files=4
for i in $(seq 1 "$files"); do
  head -c $((mb * 1000 * 1000 / files * 3 / 4)) /dev/urandom | base64 -w 99 >"$top/data/part-$i.txt"
done

# A job summary (JSON on stdin) as: wall time in s, scan MB/s.
cat >"$top/summary.py" <<'EOF'
import json, sys
s = json.load(sys.stdin)["summary"]
rate = s["bytes_read"] / 1e6 / max(s["scan_time_s"], 1e-9)
print(f"{s['wall_time_s']:.1f} {rate:.1f}")
EOF

now() { python3 -c 'import time; print(time.time())'; }
since() { python3 -c "import time; print(f'{time.time() - $1:.2f}')"; }

job_spec() { # name [scan|shuffle|shuffle-encrypted] -> spec path
  local stages='  - sql: "SELECT count(*) AS n FROM input"' extra=""
  case "${2:-scan}" in
    shuffle*) stages='  - shuffle: { by: [line], partitions: 4 }
  - sql: "SELECT count(*) AS n, sum(length(line)) AS bytes FROM input"' ;;
  esac
  [[ "${2:-}" == shuffle-encrypted ]] && extra="encrypt: true"
  cat >"$work/$1.yaml" <<EOF
name: $1
workers: { instances: 2, vcores: 1, memory: 1 GiB }
input: { path: "hdfs:///tmp/bench/in/*.txt", format: text, split_size: 64 MiB }
stages:
$stages
  - coalesce: 1
output: { path: "hdfs:///tmp/bench/out-$1", format: jsonl }
$extra
EOF
  echo "$work/$1.yaml"
}

shuffle_s() { # name kind -> wall seconds of that shuffle job
  "$bin" submit "$(job_spec "$1" "$2")" --am-memory-mb 256 --wait --json 2>>"$work/submit.log" |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["summary"]; assert s["status"]=="succeeded", s; print(round(s["wall_time_s"], 1))'
}

median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

measure() { # label [minicluster options...] -> "submit_s job_s scan_mbs read_mbs" on stdout
  local label="$1"
  shift
  work="$top/$label"
  mkdir -p "$work"
  unset cluster_pid
  start_minicluster "$work" "$@"
  local java_opts=()
  if [[ -f "$work/conf/krb5.conf" ]]; then
    export KRB5_CONFIG="$work/conf/krb5.conf" KRB5CCNAME="FILE:$work/ccache"
    kinit -kt "$work/conf/user.keytab" "$(cat "$work/conf/user.principal")"
    java_opts=(-Djava.security.krb5.conf="$work/conf/krb5.conf")
  else
    unset KRB5_CONFIG KRB5CCNAME
  fi
  fs() { java "${java_opts[@]}" -cp "$work/conf:$cp_jars" org.apache.hadoop.fs.FsShell "$@" 2> >(grep -v ' WARN ' >&2); }
  fs -mkdir -p /tmp/bench/in
  fs -put "$top/data"/* /tmp/bench/in/
  echo "$label: warm-up job (stages the binary) ..." >&2
  "$bin" submit "$(job_spec warmup)" --am-memory-mb 256 --wait >/dev/null 2>>"$work/submit.log"

  local start app state
  start=$(now)
  app=$("$bin" submit "$(job_spec timed)" --am-memory-mb 256 2>>"$work/submit.log" | tail -1)
  state=""
  while [[ "$state" != RUNNING && "$state" != FINISHED ]]; do
    state=$("$bin" status "$app" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [[ "$state" == FAILED || "$state" == KILLED ]] && { echo "$label: $app $state" >&2; exit 1; }
    sleep 0.2
  done
  local submit_s
  submit_s=$(since "$start")
  local summary
  summary=$("$bin" submit "$(job_spec scan)" --am-memory-mb 256 --wait --json 2>>"$work/submit.log")
  local job_s scan_mbs
  read -r job_s scan_mbs < <(python3 "$top/summary.py" <<<"$summary")
  local read_mbs
  read_mbs=$("$bin" bench read 'hdfs:///tmp/bench/in/*.txt' --parallel 3 --json |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["mb_per_s"], 1))')
  local shuffle sealed=- plain_runs=() sealed_runs=() i
  for i in 1 2 3; do
    plain_runs+=("$(shuffle_s "shuffle-$i" shuffle)")
    if [[ "$label" == plain ]]; then
      sealed_runs+=("$(shuffle_s "shuffle-sealed-$i" shuffle-encrypted)")
    fi
  done
  echo "$label: shuffle runs ${plain_runs[*]} s; with encrypt: true ${sealed_runs[*]:-} s" >&2
  shuffle=$(median "${plain_runs[@]}")
  if [[ "$label" == plain ]]; then sealed=$(median "${sealed_runs[@]}"); fi
  echo "$label: submit to RUNNING ${submit_s} s, job ${job_s} s (scan ${scan_mbs} MB/s), hdfs-native read ${read_mbs} MB/s, shuffle ${shuffle} s (encrypt: true ${sealed} s)" >&2
  stop_minicluster
  exec 3>&-
  echo "$submit_s $job_s $scan_mbs $read_mbs $shuffle $sealed"
}

read -r p_submit p_job p_scan p_read p_shuffle p_sealed < <(measure plain --hosts 1)
read -r s_submit s_job s_scan s_read s_shuffle _ < <(measure secure --secure --rpc-protection "$protection")

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
cat <<EOF

Input: ${mb} MB of text in $files files; one-host minicluster; secure = Kerberos with $protection.

| measurement | unsecured | secure ($protection) | secure / unsecured |
|---|---|---|---|
| submit to RUNNING (s) | $p_submit | $s_submit | $(ratio "$s_submit" "$p_submit") |
| scan-only job, wall (s) | $p_job | $s_job | $(ratio "$s_job" "$p_job") |
| spindle scan (MB/s) | $p_scan | $s_scan | $(ratio "$s_scan" "$p_scan") |
| hdfs-native read, 3 files at once (MB/s) | $p_read | $s_read | $(ratio "$s_read" "$p_read") |
| shuffle job, wall, median of 3 (s) | $p_shuffle | $s_shuffle | $(ratio "$s_shuffle" "$p_shuffle") |
| shuffle job with encrypt: true, unsecured cluster, median of 3 (s) | $p_sealed | | $(ratio "$p_sealed" "$p_shuffle") (vs in the clear) |
EOF
