#!/usr/bin/env bash
# Tests the benchmark harness itself against a fake spindle (fake_spindle.py): the contract
# with the spindle CLI, answer checking, voiding wrong answers, errors, "not available".
# Quick data, DuckDB as the only peer; ~30 s. Does not touch BENCHMARKS.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN="$HERE/../run.sh"
REPO="$(cd "$HERE/../../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
FAKE="$TMP/spindle"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$REPO/.venv-bench/bin/python" "$HERE/fake_spindle.py" > "$FAKE"
chmod +x "$FAKE"
common=(--quick --systems spindle,duckdb --tasks 2000 --no-results-md)
pass=0 fail=0
expect() {  # expect NAME JSON PYTHON-CONDITION-ON-r
  if "$REPO/.venv-bench/bin/python" -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if ($3) else 1)" "$2"; then
    pass=$((pass + 1)); echo "ok   $1"
  else
    fail=$((fail + 1)); echo "FAIL $1"; cat "$2"
  fi
}
W='{w["name"]: w["results"] for w in r["workloads"]}'

"$RUN" "${common[@]}" --spindle "$FAKE" --json "$TMP/ok.json" >/dev/null 2>"$TMP/ok.err" || { cat "$TMP/ok.err"; exit 1; }
expect "fake spindle: every cell ok" "$TMP/ok.json" \
  "all(res['spindle']['status'] == 'ok' and res['spindle']['answer_ok'] for res in ($W).values())"
expect "duckdb: every dataframe cell ok" "$TMP/ok.json" \
  "all(res['duckdb']['status'] == 'ok' for n, res in ($W).items() if not n.startswith('tasks_'))"

FAKE_SPINDLE_WRONG=1 "$RUN" "${common[@]}" --workloads groupby --spindle "$FAKE" --json "$TMP/wrong.json" >/dev/null 2>&1
expect "wrong answer is void" "$TMP/wrong.json" \
  "($W)['groupby']['spindle']['status'] == 'wrong_answer' and ($W)['groupby']['spindle']['void']"

FAKE_SPINDLE_FAIL=1 "$RUN" "${common[@]}" --workloads groupby --spindle "$FAKE" --json "$TMP/fail.json" >/dev/null 2>&1
expect "failed job is an error with its reason" "$TMP/fail.json" \
  "($W)['groupby']['spindle']['status'] == 'error' and 'fake failure' in ($W)['groupby']['spindle']['reason']"

"$RUN" "${common[@]}" --workloads tasks_map,groupby --spindle "$TMP/missing" --json "$TMP/na.json" >/dev/null 2>&1
expect "missing binary is not available" "$TMP/na.json" \
  "all(res['spindle']['status'] == 'not_available' for res in ($W).values())"

echo "selftest: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
