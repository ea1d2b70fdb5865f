#!/usr/bin/env bash
# YARN start-up of spindle vs Hadoop's DistributedShell on the repo's minicluster: time to
# AM registered and to all N workers running, plus `spindle status` vs the JVM's
# `yarn application -status`. Prints a Markdown table; see yarn_startup.py for the method.
#
#   scripts/bench/yarn-startup.sh [--runs N] [--workers N] [--spindle BIN] [--json PATH]
#
# Needs python3 >= 3.11 (stdlib only; or PYTHON=...), java 17 and mvn: the minicluster and
# the DistributedShell jar come from Maven Central. All options: --help.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py=""
for cand in ${PYTHON:-} python3 python3.11 python3.12 python3.13; do
  if command -v "$cand" >/dev/null 2>&1 &&
     "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    py="$cand"; break
  fi
done
[[ -n "$py" ]] || { echo "yarn-startup.sh: need python3 >= 3.11 (set PYTHON=...)" >&2; exit 1; }
exec "$py" "$here/yarn_startup.py" "$@"
