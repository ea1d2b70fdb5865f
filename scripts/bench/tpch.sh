#!/usr/bin/env bash
# TPC-H: spindle's query jobs against single-process DataFusion, DuckDB, Spark local and
# Dask, same data, one run (scripts/bench/tpch.py says how it measures). Installs its
# peers (pinned) into target/tools/tpch-bench on first use; Spark needs `java` (17+).
#
# usage: scripts/bench/tpch.sh [--sf 1] [--workers 2] [--queries 1,3] [--data DIR] [--json PATH]
#                              [--peers datafusion,duckdb,spark,dask]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/tools/tpch-bench"
if ! "$venv/bin/python" -c "import duckdb, duckdb_extension_tpch, datafusion, pyspark, dask.dataframe" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    duckdb==1.5.5 duckdb-extension-tpch==1.5.5 datafusion==55.0.0 \
    pyspark==4.3.0 py4j==0.10.9.9 "dask[dataframe]==2026.8.0" pandas==3.1.1 pyarrow==26.0.1
fi
exec "$venv/bin/python" "$root/scripts/bench/tpch.py" "$@"
