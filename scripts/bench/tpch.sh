#!/usr/bin/env bash
# TPC-H: spindle's query jobs against DuckDB and single-process DataFusion, same data,
# one run (scripts/bench/tpch.py says how it measures). Installs its peers (pinned) into
# target/tools/tpch-bench on first use.
#
# usage: scripts/bench/tpch.sh [--sf 1] [--workers 2] [--queries 1,3] [--data DIR] [--json PATH]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/tools/tpch-bench"
if ! "$venv/bin/python" -c "import duckdb, duckdb_extension_tpch, datafusion" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    duckdb==1.5.5 duckdb-extension-tpch==1.5.5 datafusion==55.0.0
fi
exec "$venv/bin/python" "$root/scripts/bench/tpch.py" "$@"
