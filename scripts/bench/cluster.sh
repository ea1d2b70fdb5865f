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
