#!/usr/bin/env bash
# Starts a real S3-compatible server (moto's standalone server) on 127.0.0.1 for tests and
# creates the test bucket. Prints `export ...` lines for the environment the tests need.
#
# usage: eval "$(scripts/s3-server.sh start)"   # starts it, exports AWS_* and S3_SERVER_PID
#        scripts/s3-server.sh stop               # stops the one recorded in .cache/s3.pid
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.cache/venv-s3"
state="$root/.cache"
mkdir -p "$state"

install() {
  local stamp="$venv/.moto-5.1.22"
  if [ ! -f "$stamp" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.1.22" >&2
    touch "$stamp"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install
  local port; port="$(free_port)"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/s3-server.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$state/s3.pid"
  for _ in $(seq 1 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "S3 server died; log:" >&2; cat "$state/s3-server.log" >&2; exit 1
    fi
    sleep 0.1
  done
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$venv/bin/python" - "$port" <<'PY' >&2
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1")
s3.create_bucket(Bucket="spindle-test")
print(f"S3 server ready on 127.0.0.1:{sys.argv[1]} with bucket spindle-test")
PY
  cat <<EOF2
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export S3_SERVER_PID=$pid
EOF2
}

stop() {
  if [ -f "$state/s3.pid" ]; then
    kill "$(cat "$state/s3.pid")" 2>/dev/null || true
    rm -f "$state/s3.pid"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
