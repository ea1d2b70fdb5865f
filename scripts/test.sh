#!/usr/bin/env bash
# The test suite: unit tests, end-to-end `spindle run` tests with real worker processes,
# and S3 tests against a real S3-compatible server on loopback that this script installs
# and starts itself. Everything it needs is installed here, so it works on a new machine.
#
# usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# MIT Kerberos client tools (kinit, klist, kvno) and its GSS-API library, for the tests
# against the secure minicluster (scripts/minicluster.sh --secure).
install_krb5() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends krb5-user
}
if ! command -v kinit >/dev/null; then
  echo "test.sh: installing krb5-user (kinit and libgssapi-krb5-2)" >&2
  # A new machine may have no package lists yet.
  { install_krb5 || { apt-get update && install_krb5; }; } >&2 || true
  command -v kinit >/dev/null ||
    { echo "test.sh: cannot install krb5-user (needs root and apt); install MIT Kerberos's kinit" >&2; exit 1; }
fi

eval "$(scripts/s3-server.sh start)"

# venv-pack packs the Python environment a services test ships as an archive.
tools="$root/target/tools"
if [[ ! -x "$tools/venv-pack/bin/venv-pack" ]]; then
  python3 -m venv "$tools/venv-pack"
  "$tools/venv-pack/bin/pip" install --quiet --disable-pip-version-check venv-pack==0.2.0
fi
export SPINDLE_TEST_VENV_PACK="$tools/venv-pack/bin/venv-pack"
# DuckDB with its TPC-H extension (same version): the independent engine the query-job
# tests check spindle's answers against (scripts/tpch.py).
duckdb_version=1.5.5
if ! "$tools/duckdb/bin/python" -c "import duckdb, duckdb_extension_tpch; assert duckdb.__version__ == '$duckdb_version'" 2>/dev/null; then
  python3 -m venv "$tools/duckdb"
  "$tools/duckdb/bin/pip" install --quiet --disable-pip-version-check \
    "duckdb==$duckdb_version" "duckdb-extension-tpch==$duckdb_version"
fi
export SPINDLE_TEST_TPCH_PYTHON="$tools/duckdb/bin/python"
# Temporary files of the tests and of the spindle processes they start (a failed job keeps
# its run directory, with its workers' logs, for its user): one directory per test run,
# removed when the run ends, so failure tests do not pile directories up in /tmp.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/spindle-tests.XXXXXX")"
export TMPDIR
trap 'scripts/s3-server.sh stop; rm -rf "$TMPDIR"' EXIT

# One build profile (release) and one feature set (the whole workspace with its tests):
# the binary the tests run is the one users get, and nothing is compiled twice.
log="$(mktemp)"
rm -f "$root/target/tmp/locality-report.txt"
set +e
# SPINDLE_TEST_SELECT narrows the run to some test targets (scripts/test-hadoop-lines.sh).
read -r -a select <<<"${SPINDLE_TEST_SELECT:---lib --bins --tests}"
cargo test --release --workspace --no-fail-fast "${select[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary, so the total is not lost in the scroll.
grep -E '^test result:' "$log" | awk '
  { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
  END { printf "%d passed, %d failed\n", p, f }'
rm -f "$log"
# Figures the locality test measured (it asserts its own bound; these are for people).
report="$root/target/tmp/locality-report.txt"
[[ -f "$report" ]] && cat "$report"
exit "$status"
