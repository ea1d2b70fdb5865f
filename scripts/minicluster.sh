#!/usr/bin/env bash
# Start a real HDFS (MiniDFSCluster) + YARN (MiniYARNCluster) on 127.0.0.1 in the
# foreground. Prints `READY <conf-dir>` on stdout once both accept work; the conf dir
# holds core-site.xml, hdfs-site.xml and yarn-site.xml. Stops on SIGINT/SIGTERM or when
# stdin closes (unless stdin is /dev/null).
#
# usage: scripts/minicluster.sh [--conf-dir DIR] [--hosts N]
#        scripts/minicluster.sh --print-classpath   (build, print the java class path, exit)
#
# Builds minicluster/ with Maven on first use (downloads Hadoop from Maven Central into
# ~/.m2) and caches the jar and class path under minicluster/target, keyed by the hash of
# the pom and sources. Logs go to stderr.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
launcher="$root/minicluster"
conf_dir=""
hosts=1
print_cp=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --conf-dir) conf_dir="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    --print-classpath) print_cp=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "minicluster.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

command -v java >/dev/null || { echo "minicluster.sh: java not found; install a JDK 17" >&2; exit 1; }
command -v mvn >/dev/null || { echo "minicluster.sh: mvn not found; install Maven 3.8+" >&2; exit 1; }

# Rebuild only when the launcher's inputs change.
hash="$(cd "$launcher" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
stamp="$launcher/target/build-$hash"
cp_file="$launcher/target/classpath-$hash.txt"
jar="$launcher/target/spindle-minicluster-0.1.0.jar"
if [[ ! -f "$stamp" || ! -f "$cp_file" || ! -f "$jar" ]]; then
  echo "minicluster.sh: building the launcher (first run downloads Hadoop, a few minutes)" >&2
  (cd "$launcher" && mvn -q -B -Dstyle.color=never package dependency:build-classpath \
      -Dmdep.outputFile="$cp_file" >&2)
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

# MiniYARNCluster keeps its state under ./target/<name> of the working directory.
cd "$work_dir"
# exec: signals sent to this script's pid reach the JVM, whose shutdown hooks stop the
# daemons.
exec java -XX:+IgnoreUnrecognizedVMOptions "${opens[@]}" \
  -Xmx1g -Djava.net.preferIPv4Stack=true \
  -cp "$jar:$(cat "$cp_file")" spindle.minicluster.Launcher \
  --conf-dir "$conf_dir" --work-dir "$work_dir" --hosts "$hosts"
