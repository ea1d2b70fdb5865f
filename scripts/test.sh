#!/usr/bin/env bash
# The test suite: unit tests, end-to-end `spindle run` tests with real worker processes,
# and S3 tests against a real S3-compatible server on loopback that this script installs
# and starts itself. Everything it needs is installed here, so it works on a new machine.
#
# usage: scripts/test.sh [extra cargo test args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

eval "$(scripts/s3-server.sh start)"
trap 'scripts/s3-server.sh stop' EXIT

# One build profile everywhere (release): the binary the tests run is the one users get.
cargo build --release --bin spindle
cargo test --release --workspace "$@"
