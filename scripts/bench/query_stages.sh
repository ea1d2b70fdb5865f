#!/usr/bin/env bash
# A query with stages after it in one spec, against the same work as two chained jobs
# (the query job's parquet output is the stage job's input), on TPC-H lineitem. Each way
# runs --rounds times, alternating; prints each wall time, the medians and their ratio,
# and checks that both ways wrote the same rows.
#
# usage: scripts/bench/query_stages.sh --data DIR [--bin PATH] [--workers 2] [--rounds 3]
#   DIR holds lineitem/*.parquet (scripts/tpch.py gen --sf 1 --files 8 DIR makes it)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$root/target/release/spindle" data="" workers=2 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -d "$data/lineitem" ] || { echo "--data DIR must hold lineitem/*.parquet" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Rows shipped from 1997 on (about 2/7 of lineitem), then a program of the user's that
# adds a column to every row.
query="SELECT l_orderkey, l_linenumber, l_quantity, l_extendedprice FROM lineitem WHERE l_shipdate >= DATE '1997-01-01'"
stages="stages:
  - command:
      run: \"awk -F, -v OFS=, 'NR == 1 { print \$0, \\\"value\\\"; next } { print \$0, \$3 * \$4 }'\"
      format: csv"
cat >"$work/combined.yaml" <<EOF
name: bench-combined
inputs: { lineitem: { path: "$data/lineitem", format: parquet } }
query: "$query"
$stages
output: { path: "$work/combined", format: csv, mode: overwrite }
EOF
cat >"$work/query.yaml" <<EOF
name: bench-query
inputs: { lineitem: { path: "$data/lineitem", format: parquet } }
query: "$query"
output: { path: "$work/middle", format: parquet, mode: overwrite }
EOF
cat >"$work/stages.yaml" <<EOF
name: bench-stages
input: { path: "$work/middle", format: parquet }
$stages
output: { path: "$work/chained", format: csv, mode: overwrite }
EOF

seconds() {
  local t0 t1
  t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N)
  awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
: >"$work/one" ; : >"$work/two"
for r in $(seq "$rounds"); do
  one=$(seconds "$bin" run "$work/combined.yaml" --quiet --workers "$workers")
  two=$(seconds sh -c "'$bin' run '$work/query.yaml' --quiet --workers $workers && \
    '$bin' run '$work/stages.yaml' --quiet --workers $workers")
  echo "round $r: one spec ${one} s, two chained jobs ${two} s"
  echo "$one" >>"$work/one"; echo "$two" >>"$work/two"
done
rows() { cat "$1"/part-* | grep -v '^l_orderkey,' | sort | md5sum | cut -d' ' -f1; }
count() { cat "$1"/part-* | grep -vc '^l_orderkey,'; }
[ "$(rows "$work/combined")" = "$(rows "$work/chained")" ] || { echo "the two ways wrote different rows" >&2; exit 1; }
m1=$(median <"$work/one"); m2=$(median <"$work/two")
echo "rows out: $(count "$work/combined") (the same both ways)"
echo "median: one spec ${m1} s, two chained jobs ${m2} s, ratio $(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2f", a / b }')"
