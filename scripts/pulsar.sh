#!/usr/bin/env bash
# A real Apache Pulsar standalone on loopback, for development, tests and CI.
#
#   bash scripts/pulsar.sh start    # download (once) + start + wait until public/default exists
#   bash scripts/pulsar.sh stop     # SIGTERM, then SIGKILL after PULSAR_STOP_TIMEOUT seconds
#   bash scripts/pulsar.sh status   # exit 0 when running and answering, 1 otherwise
#   bash scripts/pulsar.sh wipe     # stop, then delete the standalone's data (topics, schemas, cursors)
#
# Pulsar comes from Maven Central as org.apache.pulsar:pulsar-server-distribution:<version>:tar.gz:bin,
# fetched with Maven because Maven Central is the one host that our machines and CI reach. It is
# cached under ~/.cache/energy-pipeline/pulsar (outside the repo, shared by every clone).
# 4.0.x is the LTS line; its broker needs Java 21+, so we pick a JDK >= 21 from /usr/lib/jvm
# (measured here: 4.0.8 runs on Temurin 25). Without one we fall back to 3.3.6 on Java 17 (3.0.x LTS is
# not on our Maven Central mirror). Override with PULSAR_VERSION / PULSAR_JAVA_HOME.
#
# Environment (all optional):
#   PULSAR_VERSION        default 4.0.8 (3.3.6 when the machine has no JDK >= 21)
#   PULSAR_BROKER_PORT    default 6650  (binary protocol)
#   PULSAR_WEB_PORT       default 8080  (admin REST + WebSocket API; our TS client uses this one)
#   PULSAR_MEM            default "-Xms512m -Xmx1g -XX:MaxDirectMemorySize=512m"
#   PULSAR_CACHE_DIR      default ~/.cache/energy-pipeline/pulsar
#   PULSAR_RUN_DIR        default $PULSAR_CACHE_DIR/run (pid file, log, generated standalone.conf); a second
#                         instance (other ports) needs its own, e.g. the chaos bench's stoppable Pulsar
#   PULSAR_DATA_DIR       default $PULSAR_CACHE_DIR/data-<version> (bookkeeper + metadata); own one per instance
#   PULSAR_JAVA_HOME      a JDK (>= 21 for 4.x, >= 17 for 3.x); default: the newest in /usr/lib/jvm
#   PULSAR_START_TIMEOUT  seconds to wait for public/default, default 180
#   PULSAR_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL, default 30
set -euo pipefail

default_version=4.0.8
fallback_version=3.3.6
version="${PULSAR_VERSION:-$default_version}"
java_home=""
broker_port="${PULSAR_BROKER_PORT:-6650}"
web_port="${PULSAR_WEB_PORT:-8080}"
mem="${PULSAR_MEM:--Xms512m -Xmx1g -XX:MaxDirectMemorySize=512m}"
cache="${PULSAR_CACHE_DIR:-$HOME/.cache/energy-pipeline/pulsar}"
start_timeout="${PULSAR_START_TIMEOUT:-180}"
stop_timeout="${PULSAR_STOP_TIMEOUT:-30}"

run="${PULSAR_RUN_DIR:-$cache/run}"
set_paths() {
  home="$cache/apache-pulsar-$version"
  data="${PULSAR_DATA_DIR:-$cache/data-$version}"
}
set_paths
pid_file="$run/pulsar.pid"
log_file="$run/pulsar-standalone.log"
conf_file="$run/standalone.conf"
web_url="http://127.0.0.1:$web_port"

log() { printf 'pulsar.sh: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

java_major() { # prints the major version of the JDK at $1, or nothing
  local v
  v="$("$1/bin/java" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')" || return 0
  v="${v#1.}"
  printf '%s' "${v%%[.+-]*}"
}

# prints the newest JDK under /usr/lib/jvm (or $JAVA_HOME) whose major version is in [$1, $2]
newest_java_home() {
  local best="" best_major=0 candidate major
  for candidate in /usr/lib/jvm/*/ "${JAVA_HOME:-}"; do
    candidate="${candidate%/}"
    [[ -n "$candidate" && -x "$candidate/bin/java" ]] || continue
    major="$(java_major "$candidate")"
    [[ "$major" =~ ^[0-9]+$ ]] || continue
    if ((major >= $1 && major <= ${2:-999} && major > best_major)); then
      best="$candidate"
      best_major="$major"
    fi
  done
  printf '%s' "$best"
}

# Sets $version and $java_home: PULSAR_VERSION / PULSAR_JAVA_HOME when given; otherwise the 4.0 LTS on
# a JDK >= 21, or, on a machine with only Java 17, the newest 3.x that Maven Central serves us (3.3.6).
choose_version_and_java() {
  local needed
  if [[ -n "${PULSAR_JAVA_HOME:-}" ]]; then
    [[ -x "$PULSAR_JAVA_HOME/bin/java" ]] || die "PULSAR_JAVA_HOME \"$PULSAR_JAVA_HOME\" has no bin/java"
    java_home="$PULSAR_JAVA_HOME"
    version="${PULSAR_VERSION:-$default_version}"
    return
  fi
  if [[ -z "${PULSAR_VERSION:-}" ]]; then
    java_home="$(newest_java_home 21)"
    if [[ -n "$java_home" ]]; then
      version="$default_version"
    else
      version="$fallback_version"
      java_home="$(newest_java_home 17 21)"
      [[ -n "$java_home" ]] && log "no JDK >= 21 found: falling back to Pulsar $version on $java_home"
    fi
  else
    version="$PULSAR_VERSION"
    # 3.x is built and tested for Java 17 (21 at most); 4.x needs 21+
    if [[ "${version%%.*}" -ge 4 ]]; then
      java_home="$(newest_java_home 21)"
    else
      java_home="$(newest_java_home 17 21)"
    fi
  fi
  [[ -n "$java_home" ]] || die "Pulsar $version needs a JDK >= 21 (4.x) or >= 17 (3.x) and none is in /usr/lib/jvm (set PULSAR_JAVA_HOME)"
}

fetch_distribution() {
  [[ -x "$home/bin/pulsar" ]] && return
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) to fetch Pulsar from Maven Central"
  mkdir -p "$cache/dl"
  local tarball="$cache/dl/pulsar-server-distribution-$version-bin.tar.gz"
  if [[ ! -s "$tarball" ]]; then
    log "downloading org.apache.pulsar:pulsar-server-distribution:$version:tar.gz:bin from Maven Central"
    if ! mvn -B -Dstyle.color=never dependency:copy \
      "-Dartifact=org.apache.pulsar:pulsar-server-distribution:$version:tar.gz:bin" \
      "-DoutputDirectory=$cache/dl" >"$cache/dl/mvn.log" 2>&1; then
      tail -n 30 "$cache/dl/mvn.log" >&2
      die "Maven could not fetch pulsar-server-distribution $version (is it on Maven Central? set PULSAR_VERSION)"
    fi
  fi
  log "unpacking $tarball"
  local staging="$cache/.unpack-$$"
  rm -rf "$staging" && mkdir -p "$staging"
  tar -xzf "$tarball" -C "$staging"
  mv "$staging/apache-pulsar-$version" "$home"
  rm -rf "$staging"
}

# Our settings on top of the distribution's standalone.conf: loopback only, our ports, and the
# WebSocket service on (core/pulsar speaks it). Later keys win in Pulsar's properties loading, but we
# replace in place so the file stays readable.
write_conf() {
  mkdir -p "$run"
  local -A overrides=(
    [bindAddress]=127.0.0.1
    [advertisedAddress]=127.0.0.1
    [brokerServicePort]="$broker_port"
    [webServicePort]="$web_port"
    [webSocketServiceEnabled]=true
    [clusterName]=standalone
    # a topic deleted while a test is between steps would fail it for no reason
    [brokerDeleteInactiveTopicsEnabled]=false
  )
  cp "$home/conf/standalone.conf" "$conf_file"
  local key
  for key in "${!overrides[@]}"; do
    if grep -q "^$key=" "$conf_file"; then
      sed -i "s|^$key=.*|$key=${overrides[$key]}|" "$conf_file"
    else
      printf '%s=%s\n' "$key" "${overrides[$key]}" >>"$conf_file"
    fi
  done
}

running_pid() { # prints the pid of our standalone when its process is alive
  [[ -s "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  kill -0 "$pid" 2>/dev/null || return 1
  # a recycled pid would not be our standalone
  grep -qa "PulsarStandaloneStarter" "/proc/$pid/cmdline" 2>/dev/null || return 1
  printf '%s' "$pid"
}

# The admin API lists public/default a few seconds before the broker service takes clients: a WebSocket
# producer opened in that gap gets "pulsar service is not ready" and its proxy retries only ~12 s later.
# The broker health check produces and consumes on a heartbeat topic, so it passes only when both are up.
ready() {
  curl -fsS --max-time 3 "$web_url/admin/v2/namespaces/public" 2>/dev/null | grep -q '"public/default"' &&
    curl -fsS --max-time 10 "$web_url/admin/v2/brokers/health" 2>/dev/null | grep -q 'ok'
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
  if pid="$(running_pid)"; then
    if ready; then
      log "already running (pid $pid, $web_url)"
      return 0
    fi
    log "process $pid is up but not ready yet; waiting"
  else
    local port
    for port in "$web_port" "$broker_port"; do
      port_busy "$port" && die "port $port on 127.0.0.1 is in use by another process (set PULSAR_WEB_PORT / PULSAR_BROKER_PORT)"
    done
    choose_version_and_java
    set_paths
    fetch_distribution
    write_conf
    mkdir -p "$data"
    log "starting Pulsar $version standalone with $java_home (log: $log_file)"
    : >"$log_file"
    # setsid: the standalone outlives this shell and gets its own process group, so stop can signal it whole.
    (
      cd "$home"
      export JAVA_HOME="$java_home" PULSAR_MEM="$mem" PULSAR_STANDALONE_CONF="$conf_file"
      export PULSAR_LOG_DIR="$run" PULSAR_LOG_APPENDER=Console PULSAR_GC="${PULSAR_GC:--XX:+UseG1GC}"
      # The standalone's in-process bookie (BKCluster, 3.3/4.0) binds 0.0.0.0 on an ephemeral port chosen on
      # first start and kept in its cookie (--bookkeeper-port is not used with the RocksDB metadata store). BookKeeper reads its settings from
      # system properties only when told to, and then they win over the ones set in code: pin it to loopback.
      export PULSAR_EXTRA_OPTS="-Dorg.apache.bookkeeper.conf.readsystemproperties=true -DlisteningInterface=lo ${PULSAR_EXTRA_OPTS:-}"
      exec setsid bin/pulsar standalone --no-functions-worker --no-stream-storage \
        --advertised-address 127.0.0.1 \
        --bookkeeper-dir "$data/bookkeeper" --metadata-dir "$data/metadata" \
        </dev/null >>"$log_file" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$pid_file"
  fi
  local started=$SECONDS
  until ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "Pulsar exited during start-up; last lines of $log_file:"
      tail -n 40 "$log_file" >&2
      exit 1
    fi
    if ((SECONDS - started >= start_timeout)); then
      log "Pulsar did not list public/default within ${start_timeout}s; last lines of $log_file:"
      tail -n 40 "$log_file" >&2
      exit 1
    fi
    sleep 1
  done
  log "ready after $((SECONDS - started))s: admin/ws $web_url, broker pulsar://127.0.0.1:$broker_port (pid $pid)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$pid_file"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= stop_timeout)); then
      log "still running after ${stop_timeout}s; SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$pid_file"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if ready; then
      echo "running (pid $pid, $web_url, pulsar://127.0.0.1:$broker_port)"
      return 0
    fi
    echo "starting (pid $pid, admin not ready yet)"
    return 1
  fi
  echo "not running"
  return 1
}

cmd_wipe() {
  cmd_stop
  if [[ -n "${PULSAR_DATA_DIR:-}" ]]; then
    rm -rf "$PULSAR_DATA_DIR"
    log "deleted $PULSAR_DATA_DIR"
  else
    rm -rf "$cache"/data-*
    log "deleted $cache/data-*"
  fi
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
wipe) cmd_wipe ;;
*) die "usage: scripts/pulsar.sh start|stop|status|wipe (got \"${1:-}\")" ;;
esac
