#!/usr/bin/env bash
# Services start-up of spindle vs Skein on the repo's minicluster: time from the
# submitting client's start until all instances of a one-service application (Skein's
# spec format, `sleep 600` in 4 containers of 256 MiB) are running. Prints a Markdown
# table; see services_startup.py for the method.
#
#   scripts/bench/services-startup.sh [--runs N] [--instances N] [--spindle BIN] [--json PATH]
#
# Needs python3 >= 3.11 (or PYTHON=...), java 17 and mvn (the minicluster comes from Maven
# Central); installs skein 0.8.2 from PyPI into /tmp/spindle-bench-skein-venv on first
# use (--skein-venv DIR to change). All options: --help.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=""
for cand in ${PYTHON:-} python3 python3.11 python3.12 python3.13; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    py="$cand"; break
  fi
done
[[ -n "$py" ]] || { echo "services-startup.sh: need python3 >= 3.11 (set PYTHON=...)" >&2; exit 1; }
exec "$py" "$here/services_startup.py" "$@"
