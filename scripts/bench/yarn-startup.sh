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
source "$here/python.sh" yarn-startup.sh
exec "$py" "$here/yarn_startup.py" "$@"
