#!/usr/bin/env bash
# Runs the YARN and HDFS test files (every test against the minicluster) on each Hadoop
# line, one after the other, and prints a Markdown table of what passed on each. CI runs
# the default line only (scripts/test.sh); this is for checking the others.
#
# usage: scripts/test-hadoop-lines.sh [VERSION...]   (default: 3.3.6 3.4.2 3.5.0)
#
# Each line's first run downloads it from Maven Central (scripts/minicluster.sh --hadoop).
# A line's full log is kept in target/hadoop-lines/VERSION.log.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
case "${1:-}" in -h|--help) sed -n '2,9p' "$0"; exit 0 ;; esac
versions=("$@")
[[ ${#versions[@]} -gt 0 ]] || versions=(3.3.6 3.4.2 3.5.0)
targets="--test yarn_run --test yarn_secure --test yarn_locality --test yarn_labels_gpus --test yarn_acls --test cluster_faults --test yarn_rm_ha"
targets+=" --test yarn_minicluster --test yarn_am_minicluster --test yarn_multi_node"
mkdir -p target/hadoop-lines
rows=()
for v in "${versions[@]}"; do
  log="target/hadoop-lines/$v.log"
  echo "== Hadoop $v (log: $log)" >&2
  start=$(date +%s)
  SPINDLE_HADOOP_VERSION="$v" SPINDLE_TEST_SELECT="$targets" scripts/test.sh >"$log" 2>&1
  status=$?
  total="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)"
  failed="$(grep -E '^test .* FAILED$' "$log" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | paste -sd, -)"
  rows+=("| $v | ${total:-no result (see the log)} | ${failed:--} | $(( $(date +%s) - start )) s |")
  echo "== Hadoop $v: ${total:-no result} (exit $status)" >&2
done
echo
echo "| Hadoop | tests | failed | time |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
