#!/usr/bin/env bash
# Start a real HDFS (MiniDFSCluster) + YARN (MiniYARNCluster) on 127.0.0.1 in the
# foreground. Prints `READY <conf-dir>` on stdout once both accept work; the conf dir
# holds core-site.xml, hdfs-site.xml and yarn-site.xml. Stops on SIGINT/SIGTERM or when
# stdin closes (unless stdin is /dev/null). Without --secure, users are simple-auth names
# (HADOOP_USER_NAME); the one who starts it is HDFS's superuser, and so is `newadmin`
# (in group supergroup), who has no home: a new cluster's administrator.
#
# usage: scripts/minicluster.sh [--conf-dir DIR] [--hadoop VERSION] [--hosts N] [--racks R] [--rms N]
#          [--node-label NAME] [--gpus N] [--acls] [--second-dfs] [--secure [--rpc-protection authentication|integrity|privacy]
#                    [--token-renew-interval-s N] [--token-max-lifetime-s N]
#                    [--am-rm-token-roll-s N]]
#        scripts/minicluster.sh --print-classpath   (build, print the java class path, exit)
#
# --hadoop VERSION runs another Hadoop line's daemons (default 3.4.2, or
# $SPINDLE_HADOOP_VERSION): 3.3.6, 3.4.x and 3.5.0 come from Maven Central. Each line is
# built once, under minicluster/target/hadoop-VERSION.
#
# --hosts N (1 to 16, default 1) simulates N machines: host i is spindle-host-i at the
# loopback alias 127.0.0.(i+1), with its own DataNode and NodeManager registered under
# that name, so block locations and YARN nodes line up as on a real cluster. The names
# must resolve: run as root, this script adds them to /etc/hosts (once). Blocks get one
# replica by default. --racks R spreads the hosts over R racks (default: 2 from four
# hosts on, else 1).
#
# --rms N (1 to 3) runs N ResourceManagers that can be restarted and failed over while work
# runs: they recover applications from a state store in the work dir, work-preserving
# (containers keep running), and NodeManagers reach them over RPC. From 2 on they are an
# HA pair (ids rm1, rm2, ...; manual failover), and yarn-site.xml carries the
# yarn.resourcemanager.ha.* keys and per-id addresses a real client reads. Control lines on
# stdin, each answered on stdout by `DONE <line> active=<id>` or `FAILED <line>: <why>`:
#   failover     the active RM becomes standby, the next one active (needs --rms 2)
#   restart-rm   stop the active RM and start it again on the same ports; it recovers
#   stop-rm      stop the active RM, after making the next one active
#   start-rm     start every stopped RM again (a standby under HA)
# Without --rms, a control line is answered FAILED. Works with --secure too.
#
# --node-label NAME (with --hosts 2 or more) puts the last host in the exclusive node label
# NAME, which the default queue may use whole: only containers that ask for NAME run there,
# and the others run on the other hosts.
#
# --gpus N (1 to 64) gives every NodeManager N GPUs of the yarn.io/gpu resource type (counted
# by the scheduler, with no device behind them), as a GPU cluster's node-resources.xml does.
#
# --acls makes YARN enforce application ACLs (yarn.acl.enable), with no user an
# administrator of the cluster or its queues: only an application's owner, and whoever its
# ACLs name, may see its details or kill it.
#
# --second-dfs starts a second HDFS (a NameNode and a DataNode on 127.0.0.1, secure when the
# cluster is) beside the default filesystem, as a user's other cluster; its URL is in
# <conf-dir>/second-dfs and it holds /shared/second.txt, which everyone may read.
#
# --secure (one host only) Kerberizes both clusters: a MiniKdc (realm EXAMPLE.COM) runs in
# the work dir, HDFS runs as hdfs/localhost and YARN as yarn/localhost (configured as
# service/_HOST@EXAMPLE.COM), RPC takes Kerberos or tokens only, with --rpc-protection
# (default privacy) on RPC and on DataNode transfers (SASL). HDFS's web servers take
# SPNEGO (HTTP/localhost); YARN's stay open, as spindle reads NodeManager logs. The conf dir
# also holds krb5.conf (for kinit and Java), user.keytab and user.principal, a test user
# (alice@EXAMPLE.COM) with a home in HDFS: KRB5_CONFIG=<conf>/krb5.conf kinit -kt
# <conf>/user.keytab alice@EXAMPLE.COM. For tests of token expiry, --token-renew-interval-s
# N sets the HDFS and YARN delegation token renew interval, --token-max-lifetime-s N the
# HDFS tokens' maximum lifetime (past it only fresh tokens work), and --am-rm-token-roll-s N (4 or
# more) rolls the AMRM, container and NM token keys every N seconds; N below 1800 lowers
# the AM and NM liveness expiry to under N/3 seconds, as the ResourceManager requires.
#
# Builds minicluster/ with Maven on first use (downloads Hadoop from Maven Central into
# ~/.m2) and caches the jar and class path under minicluster/target, keyed by the hash of
# the pom and sources. Logs go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
launcher="$root/minicluster"
conf_dir=""
hosts=1
hadoop="${SPINDLE_HADOOP_VERSION:-3.4.2}"
racks=0
rms=0
print_cp=0
secure=0
secure_opts=()
extra_opts=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --conf-dir) conf_dir="$2"; shift 2 ;;
    --hadoop) hadoop="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    --racks) racks="$2"; shift 2 ;;
    --rms) rms="$2"; shift 2 ;;
    --secure) secure=1; shift ;;
    --acls|--second-dfs) extra_opts+=("$1"); shift ;;
    --gpus)
      [[ "${2:-}" =~ ^[1-9][0-9]?$ && "$2" -le 64 ]] ||
        { echo "minicluster.sh: --gpus takes 1 to 64, not '${2:-}'" >&2; exit 2; }
      extra_opts+=("$1" "$2"); shift 2 ;;
    --node-label)
      [[ "${2:-}" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] ||
        { echo "minicluster.sh: --node-label takes a label name (letters, digits, _ and -), not '${2:-}'" >&2; exit 2; }
      extra_opts+=("$1" "$2"); shift 2 ;;
    --rpc-protection)
      [[ "${2:-}" =~ ^(authentication|integrity|privacy)$ ]] ||
        { echo "minicluster.sh: --rpc-protection must be authentication, integrity or privacy" >&2; exit 2; }
      secure_opts+=("$1" "$2"); shift 2 ;;
    --token-renew-interval-s|--token-max-lifetime-s|--am-rm-token-roll-s)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] ||
        { echo "minicluster.sh: $1 takes a number of seconds, not '${2:-}'" >&2; exit 2; }
      secure_opts+=("$1" "$2"); shift 2 ;;
    --print-classpath) print_cp=1; shift ;;
    -h|--help) sed -n '2,66p' "$0"; exit 0 ;;
    *) echo "minicluster.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

[[ "$hadoop" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  { echo "minicluster.sh: --hadoop takes a version such as 3.3.6, not '$hadoop'" >&2; exit 2; }
[[ "$hosts" =~ ^[0-9]+$ && "$hosts" -ge 1 && "$hosts" -le 16 ]] ||
  { echo "minicluster.sh: --hosts must be 1 to 16, not '$hosts'" >&2; exit 2; }
[[ "$racks" =~ ^[0-9]+$ && "$racks" -le "$hosts" ]] ||
  { echo "minicluster.sh: --racks must be 1 to the number of hosts, not '$racks'" >&2; exit 2; }
[[ "$rms" =~ ^[0-3]$ ]] ||
  { echo "minicluster.sh: --rms must be 1 to 3, not '$rms'" >&2; exit 2; }
if [[ "$secure" == 0 && ${#secure_opts[@]} -gt 0 ]]; then
  echo "minicluster.sh: ${secure_opts[0]} needs --secure" >&2; exit 2
fi
if [[ " ${extra_opts[*]} " == *" --node-label "* && ( "$hosts" -lt 2 || "$rms" -gt 0 ) ]]; then
  echo "minicluster.sh: --node-label needs --hosts 2 or more, without --rms" >&2; exit 2
fi
if [[ "$secure" == 1 && "$hosts" -gt 1 ]]; then
  echo "minicluster.sh: --secure runs one host only, not --hosts $hosts" >&2; exit 2
fi
for ((i = 0; i < ${#secure_opts[@]}; i += 2)); do
  if [[ "${secure_opts[i]}" == --am-rm-token-roll-s && "${secure_opts[i + 1]}" -lt 4 ]]; then
    echo "minicluster.sh: --am-rm-token-roll-s must be 4 or more (the ResourceManager's floor)" >&2; exit 2
  fi
done
if [[ "$secure" == 1 ]]; then
  secure_opts=(--secure "${secure_opts[@]}")
fi

# Host i of a multi-host cluster is spindle-host-i at 127.0.0.(i+1); see --help.
if [[ "$hosts" -gt 1 ]]; then
  for i in $(seq 1 "$hosts"); do
    name="spindle-host-$i" addr="127.0.0.$((i + 1))"
    have="$(getent ahostsv4 "$name" | awk 'NR == 1 { print $1 }' || true)"
    [[ "$have" == "$addr" ]] && continue
    if [[ -n "$have" ]]; then
      echo "minicluster.sh: $name resolves to $have, not $addr: fix its line in /etc/hosts" >&2
      exit 1
    fi
    if [[ "$(id -u)" != 0 ]]; then
      echo "minicluster.sh: --hosts $hosts needs '$addr $name' in /etc/hosts; add it, or run once as root" >&2
      exit 1
    fi
    # Appended in place: /etc/hosts is often a bind mount that cannot be replaced.
    echo "$addr $name  # spindle minicluster" >> /etc/hosts
    echo "minicluster.sh: added '$addr $name' to /etc/hosts" >&2
  done
fi

command -v java >/dev/null || { echo "minicluster.sh: java not found; install a JDK 17" >&2; exit 1; }
command -v mvn >/dev/null || { echo "minicluster.sh: mvn not found; install Maven 3.8+" >&2; exit 1; }

# Rebuild only when the launcher's inputs or the Hadoop line change.
hash="$(cd "$launcher" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
build="$launcher/target/hadoop-$hadoop"
stamp="$build/build-$hash"
cp_file="$build/classpath-$hash.txt"
jar="$build/spindle-minicluster-0.1.0.jar"
if [[ ! -f "$stamp" || ! -f "$cp_file" || ! -f "$jar" ]]; then
  echo "minicluster.sh: building the launcher for Hadoop $hadoop (first run downloads it, a few minutes)" >&2
  (cd "$launcher" && mvn -q -B -Dstyle.color=never -Dhadoop.version="$hadoop" \
      package dependency:build-classpath -Dmdep.outputFile="$cp_file" >&2)
  touch "$stamp"
fi
if [[ "$print_cp" == 1 ]]; then
  echo "$jar:$(cat "$cp_file")"
  exit 0
fi

if [[ -z "$conf_dir" ]]; then
  conf_dir="$(mktemp -d "${TMPDIR:-/tmp}/spindle-minicluster.XXXXXX")/conf"
fi
mkdir -p "$conf_dir"
conf_dir="$(cd "$conf_dir" && pwd)"
work_dir="$(dirname "$conf_dir")/work"
mkdir -p "$work_dir"

# Containers inherit these from the NodeManager's environment.
export HADOOP_CONF_DIR="$conf_dir"
if [[ -z "${JAVA_HOME:-}" ]]; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
fi
export JAVA_HOME

opens=()
for pkg in java.io java.lang java.lang.reflect java.math java.net java.text java.util \
    java.util.concurrent java.util.zip sun.security.util sun.security.x509; do
  opens+=("--add-opens=java.base/$pkg=ALL-UNNAMED")
done
# Hadoop 3.1 reads the default Kerberos realm from the JDK's internals (later lines do not).
opens+=("--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED")

# MiniYARNCluster keeps its state under ./target/<name> of the working directory.
cd "$work_dir"
# In secure mode the launcher writes a core-site.xml here for clients the daemons create
# with a fresh Configuration (see Secure.writeJvmDefaults); the class path needs the
# directory from the start. A file left by an earlier secure run in this work dir goes.
mkdir -p "$work_dir/jvm-site"
rm -f "$work_dir/jvm-site/core-site.xml"
# exec: signals sent to this script's pid reach the JVM, whose shutdown hooks stop the
# daemons.
exec java -XX:+IgnoreUnrecognizedVMOptions "${opens[@]}" \
  -Xmx$((768 + 256 * hosts + 256 * rms))m -Djava.net.preferIPv4Stack=true \
  -cp "$work_dir/jvm-site:$jar:$(cat "$cp_file")" spindle.minicluster.Launcher \
  --conf-dir "$conf_dir" --work-dir "$work_dir" --hosts "$hosts" --racks "$racks" \
  --rms "$rms" "${extra_opts[@]}" "${secure_opts[@]}"
