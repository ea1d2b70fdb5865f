#!/usr/bin/env bash
# spindle vs Dask, Spark, DuckDB (and DataFusion) side by side. See scripts/bench/README.md.
#
#   scripts/bench/run.sh [--quick] [--json PATH] [--spindle BIN] [bench.py options...]
#
# Creates/refreshes <repo>/.venv-bench with the pinned peers (requirements.txt), generates the
# datasets into <repo>/.cache/bench/ and runs bench.py, which prints a markdown table, replaces
# this mode's section of BENCHMARKS.md and, with --json, writes the results as JSON.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${SPINDLE_BENCH_VENV:-$REPO/.venv-bench}"
REQ="$HERE/requirements.txt"

for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
               echo "bench.py options (after the venv exists): $VENV/bin/python $HERE/bench.py --help"
               exit 0 ;;
  esac
done

# --- virtualenv with the pinned peers (idempotent: stamp = hash of requirements + python) ---
# The pins need Python >= 3.11 (pandas 3, numpy 2.4); take the first interpreter that has it.
source "$HERE/python.sh" "[bench]"
PY="$py"
want="$( { cat "$REQ"; "$PY" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.bench-requirements.sha256"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[bench] setting up $VENV" >&2
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
  fi
  t0=$(date +%s)
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want" > "$stamp"
  echo "[bench] peers installed in $(( $(date +%s) - t0 )) s" >&2
fi

# --- Java for PySpark ---
if [[ -z "${JAVA_HOME:-}" ]] && command -v java >/dev/null 2>&1; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  export JAVA_HOME
fi
# Keep every peer on loopback and out of the user's config.
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
export PYTHONUNBUFFERED=1

exec "$VENV/bin/python" "$HERE/bench.py" "$@"
