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
source "$here/python.sh" services-startup.sh
exec "$py" "$here/services_startup.py" "$@"
