# Sourced by the bench scripts (which set `root`): `start_minicluster WORK [ARGS...]`
# starts scripts/minicluster.sh with its conf dir in WORK/conf and ARGS, holds its stdin
# open with a fifo (it stops when stdin closes), waits for READY, sets `cluster_pid` and
# exports HADOOP_CONF_DIR; exits naming the calling script if the cluster does not start.
start_minicluster() {
  local work="$1"
  shift
  mkfifo "$work/hold"
  "$root/scripts/minicluster.sh" --conf-dir "$work/conf" "$@" <"$work/hold" >"$work/ready" 2>"$work/cluster.log" &
  cluster_pid=$!
  exec 3>"$work/hold"
  for _ in $(seq 600); do
    grep -q '^READY' "$work/ready" 2>/dev/null && break
    kill -0 "$cluster_pid" 2>/dev/null || { tail -20 "$work/cluster.log" >&2; exit 1; }
    sleep 0.5
  done
  grep -q '^READY' "$work/ready" || { echo "$(basename "$0"): the minicluster did not start" >&2; exit 1; }
  export HADOOP_CONF_DIR="$work/conf"
}

# `stop_minicluster`: stops the minicluster `start_minicluster` started, if any (for the
# scripts' exit traps).
stop_minicluster() {
  if [[ -n "${cluster_pid:-}" ]]; then
    # The cluster dies of the TERM, so `wait` reports 143: not a failure of the caller
    # (under `set -e` in an exit trap it would end the trap before its clean-up).
    kill "$cluster_pid" 2>/dev/null && { wait "$cluster_pid" 2>/dev/null || true; }
  fi
  return 0
}

# `submit_idle_app BIN WORK NAME`: submits, with BIN, a services application named NAME
# whose one service sleeps, waits until its key-value store takes a put, and prints its
# id. Its master runs BIN, so two binaries can be compared on one cluster.
submit_idle_app() {
  local bin="$1" work="$2" name="$3" app
  cat >"$work/$name.yaml" <<EOF
name: $name
services:
  idle:
    resources: { memory: 256, vcores: 1 }
    script: sleep 3600
EOF
  app="$("$bin" submit "$work/$name.yaml" --am-memory-mb 256 | tail -1)"
  for _ in $(seq 120); do
    "$bin" kv put bench/ready 1 --app "$app" >/dev/null 2>&1 && { echo "$app"; return 0; }
    sleep 1
  done
  echo "$(basename "$0"): $app's key-value store took no put within 120 s" >&2
  "$bin" kill "$app" >/dev/null 2>&1 || true
  return 1
}

# `put_text_input WORK MB BLOCK_MB`: writes about MB megabytes of base64 text lines in 6
# files to /bench/in on the started minicluster with Hadoop's own client (blocks of
# BLOCK_MB MiB, one replica each, placed by the NameNode) and sets `input_bytes` to the
# bytes there. Defines `fs ARGS...`: FsShell against that cluster.
put_text_input() {
  local work="$1" mb="$2" block_mb="$3" files=6 per_file i
  fs_cp="$work/conf:$("$root/scripts/minicluster.sh" --print-classpath)"
  fs() { java -cp "$fs_cp" org.apache.hadoop.fs.FsShell "$@" 2> >(grep -v ' WARN ' >&2); }
  per_file=$((mb * 1000 * 1000 / files))
  mkdir "$work/data"
  for i in $(seq 1 "$files"); do
    head -c $((per_file * 3 / 4)) /dev/urandom | base64 -w 99 >"$work/data/part-$i.txt"
  done
  fs -D dfs.blocksize=$((block_mb * 1024 * 1024)) -D dfs.replication=1 -mkdir -p /bench/in
  fs -D dfs.blocksize=$((block_mb * 1024 * 1024)) -D dfs.replication=1 -put "$work/data"/* /bench/in/
  rm -rf "$work/data"
  input_bytes=$(fs -du -s /bench/in | awk '{ print $1 }')
}

