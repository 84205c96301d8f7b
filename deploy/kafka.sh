#!/usr/bin/env bash
# Local Apache Kafka 4.x (KRaft, combined broker+controller nodes) for development, tests and CI,
# started from the official jars on Maven Central: no tarball, no Docker. One node by default; with
# --brokers 3 a real cluster of three nodes (a 3-voter quorum) on loopback ports.
#
# Usage: deploy/kafka.sh fetch|start|stop|kill|restart|status|logs [--brokers N] [--node I] [-f] [N]
#   fetch    resolve org.apache.kafka:kafka_2.13 and its runtime jars with Maven into the cache
#            (does nothing when the cache is complete)
#   start    fetch if needed, format KRaft storage once, start in the background and wait until every
#            node accepts clients; nodes already running are left alone (exit 0); after a node died,
#            start brings back just that one
#   stop     SIGTERM, wait for a clean exit (MCU_KAFKA_STOP_TIMEOUT, 30 s), then SIGKILL
#   kill     SIGKILL at once (fault tests: an unclean broker death)
#   restart  stop + start (data is kept); with --node I one node only (a rolling restart step)
#   status   one line per node (id, pid, address, up or not); exit 0 if every node accepts clients
#   logs     tail the server log (-f to follow; N lines, default 100); of node 1 unless --node I
#   --brokers N  nodes of the cluster, given at the first start (1 = the single broker, as always);
#                later commands read it from the state ($MCU_VAR_DIR/kafka/nodes)
#   --node I     act on node I only (1..N)
#
# Environment (all optional):
#   MCU_KAFKA_VERSION          Kafka version on Maven Central (4.4.0)
#   MCU_KAFKA_CACHE            jar cache ($HOME/.cache/mcu/kafka/<version>)
#   MCU_KAFKA_PORT             client listener on 127.0.0.1 (9092); node I of a cluster: this + 2(I-1)
#   MCU_KAFKA_CONTROLLER_PORT  KRaft controller listener on 127.0.0.1 (9093); node I: this + 2(I-1)
#   MCU_KAFKA_PORTS            a cluster's client ports, comma-separated, one per node (overrides the above)
#   MCU_KAFKA_CONTROLLER_PORTS a cluster's controller ports, likewise
#   MCU_KAFKA_MIN_INSYNC_REPLICAS  min.insync.replicas of a cluster (2 on 3 nodes: one node may be lost)
#   MCU_VAR_DIR                state root; one broker uses <it>/kafka/{data,logs,config,kafka.pid},
#                              node I of a cluster <it>/kafka/node-I/{...}.
#                              Unset -> <repo root>/var. A relative value is taken relative to the
#                              current directory, as the Python settings (mcu/settings.py) do.
#   MCU_KAFKA_HEAP             JVM heap flags ("-Xmx512m -Xms256m"; "-Xmx384m -Xms128m" per node of a cluster)
#   MCU_KAFKA_START_TIMEOUT    seconds to wait for the broker to accept clients (90)
#   MCU_KAFKA_STOP_TIMEOUT     seconds to wait for a clean exit before SIGKILL (30)
#   MCU_KAFKA_EXTRA_PROPERTIES file whose lines are appended to the generated server.properties
#                              (later keys win, so it may also redefine listeners, e.g. add SASL_SSL)
#   MCU_KAFKA_ADD_SCRAM        SCRAM credentials created when the storage is formatted (first start
#                              only), one per line, e.g. SCRAM-SHA-512=[name=mcu,password=secret]
#                              (KRaft has no ZooKeeper to add them to before the broker runs)
#   JAVA_HOME                  Java 17+ to use (else `java` on PATH); Maven's `mvn` must be on PATH
# Everything else (the cache aside) lives under the var dir, so two brokers with different ports and
# var dirs can run side by side.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

VERSION="${MCU_KAFKA_VERSION:-4.4.0}"
CACHE="${MCU_KAFKA_CACHE:-$HOME/.cache/mcu/kafka/$VERSION}"
BASE_PORT="${MCU_KAFKA_PORT:-9092}"
BASE_CTRL_PORT="${MCU_KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${MCU_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${MCU_KAFKA_STOP_TIMEOUT:-30}"
# Pinned so that a fresh machine resolves exactly what was tested (Maven 3.8's default is 2.8).
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.9.0"
# The pipeline carries records up to 4 MiB plus dead letters wrapping them.
MAX_MESSAGE_BYTES=8388608

if [[ -n "${MCU_VAR_DIR:-}" ]]; then
    VAR_DIR="$(mkdir -p "$MCU_VAR_DIR" && cd "$MCU_VAR_DIR" && pwd)"
else
    VAR_DIR="$REPO_ROOT/var"
fi
ROOT_KDIR="$VAR_DIR/kafka"
# Written at the first start of a cluster: later commands (stop, status, kill) need no --brokers.
NODES_FILE="$ROOT_KDIR/nodes"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

NODES=""      # cluster size; from --brokers, else NODES_FILE, else 1
ONLY_NODE=""  # --node I
# Per-node globals, set by use_node: a one-node broker keeps the layout and ports it always had.
NODE_ID=1 PORT="$BASE_PORT" CTRL_PORT="$BASE_CTRL_PORT" KDIR="$ROOT_KDIR"
DATA_DIR="" LOG_DIR="" CONF_DIR="" PID_FILE="" SERVER_LOG=""
declare -a CLIENT_PORTS=() CONTROL_PORTS=()

say() { printf 'kafka.sh: %s\n' "$*"; }
die() { printf 'kafka.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- fetch
cache_complete() { [[ -f "$CACHE/complete" && -d "$CACHE/lib" ]]; }

fetch() {
    if cache_complete; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn (Maven) is not on PATH"
    mkdir -p "$(dirname "$CACHE")"
    # Download into a private folder and rename at the end: a concurrent fetch or an interrupted
    # one never leaves a half-filled cache that looks complete.
    local tmp
    tmp="$(mktemp -d "$CACHE.tmp.XXXXXX")"
    chmod 755 "$tmp"  # mktemp makes it private; the cache is shared by every user of the checkout
    trap 'rm -rf "$tmp"' EXIT
    cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mcu.local</groupId><artifactId>kafka-runtime</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    say "fetching org.apache.kafka:kafka_2.13:$VERSION and its runtime jars into $CACHE"
    # Maven's output goes to a file and is shown only on failure (its -q still prints colour codes).
    mvn -q -B -f "$tmp/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
        -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 \
        || { tail -n 30 "$tmp/mvn.log" >&2; die "Maven could not resolve kafka_2.13:$VERSION"; }
    # Apache's tarball ships the SLF4J -> log4j2 binding, the POM does not: without it the broker
    # logs nothing. The binding must match the slf4j-api line Kafka pulls (1.7 vs 2.x) and the
    # log4j-core version.
    local slf4j log4j binding
    slf4j="$(cd "$tmp/lib" && ls slf4j-api-*.jar 2>/dev/null | head -n1 | sed -E 's/^slf4j-api-(.*)\.jar$/\1/')"
    log4j="$(cd "$tmp/lib" && ls log4j-core-*.jar 2>/dev/null | head -n1 | sed -E 's/^log4j-core-(.*)\.jar$/\1/')"
    [[ -n "$slf4j" && -n "$log4j" ]] || die "slf4j-api or log4j-core missing from Kafka's dependencies"
    if [[ "$slf4j" == 1.* ]]; then binding=log4j-slf4j-impl; else binding=log4j-slf4j2-impl; fi
    mvn -q -B -f "$tmp/pom.xml" "$DEP_PLUGIN:copy" \
        -Dartifact="org.apache.logging.log4j:$binding:$log4j" -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 \
        || { tail -n 30 "$tmp/mvn.log" >&2; die "Maven could not resolve org.apache.logging.log4j:$binding:$log4j"; }
    [[ -f "$tmp/lib/kafka_2.13-$VERSION.jar" ]] || die "kafka_2.13-$VERSION.jar was not downloaded"
    (cd "$tmp/lib" && ls) >"$tmp/complete"
    rm -f "$tmp/pom.xml" "$tmp/mvn.log"
    trap - EXIT
    if mv -T "$tmp" "$CACHE" 2>/dev/null; then
        say "cached $(wc -l <"$CACHE/complete") jars (slf4j $slf4j, $binding $log4j)"
    else
        # Another fetch finished first; its cache is as good as ours.
        rm -rf "$tmp"
        cache_complete || die "could not move the jars into $CACHE"
    fi
}

# ---------------------------------------------------------------- nodes
# "9092,9094" -> array; empty -> BASE + 2(I-1), so the defaults of a cluster are 9092/9093,
# 9094/9095, 9096/9097 and the first node keeps the default bootstrap address.
port_list() {
    local list="$1" base="$2" i
    local -a out=()
    if [[ -n "$list" ]]; then
        IFS=',' read -r -a out <<<"${list// /}"
        ((${#out[@]} == NODES)) || die "$3 names ${#out[@]} port(s) for $NODES node(s)"
    else
        for ((i = 0; i < NODES; i++)); do out+=("$((base + 2 * i))"); done
    fi
    printf '%s\n' "${out[@]}"
}

resolve_nodes() {
    local stored=""
    [[ -f "$NODES_FILE" ]] && stored="$(tr -dc '0-9' <"$NODES_FILE")"
    if [[ -z "$NODES" ]]; then
        NODES="${stored:-1}"
    elif [[ -n "$stored" && "$stored" != "$NODES" ]]; then
        die "the state in $ROOT_KDIR is a $stored-node cluster, not $NODES (stop it and remove $ROOT_KDIR to change)"
    fi
    [[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "--brokers takes a positive number"
    mapfile -t CLIENT_PORTS < <(port_list "${MCU_KAFKA_PORTS:-}" "$BASE_PORT" MCU_KAFKA_PORTS)
    mapfile -t CONTROL_PORTS < <(port_list "${MCU_KAFKA_CONTROLLER_PORTS:-}" "$BASE_CTRL_PORT" MCU_KAFKA_CONTROLLER_PORTS)
    if [[ -n "$ONLY_NODE" ]] && ! ((ONLY_NODE >= 1 && ONLY_NODE <= NODES)); then
        die "--node $ONLY_NODE: the cluster has nodes 1..$NODES"
    fi
}

use_node() {
    NODE_ID="$1"
    PORT="${CLIENT_PORTS[$((NODE_ID - 1))]}"
    CTRL_PORT="${CONTROL_PORTS[$((NODE_ID - 1))]}"
    if ((NODES == 1)); then KDIR="$ROOT_KDIR"; else KDIR="$ROOT_KDIR/node-$NODE_ID"; fi
    DATA_DIR="$KDIR/data"
    LOG_DIR="$KDIR/logs"
    CONF_DIR="$KDIR/config"
    PID_FILE="$KDIR/kafka.pid"
    SERVER_LOG="$LOG_DIR/server.log"
}

selected_nodes() {
    if [[ -n "$ONLY_NODE" ]]; then echo "$ONLY_NODE"; else seq 1 "$NODES"; fi
}

# ---------------------------------------------------------------- process helpers
read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

# The pid is ours only if it is alive and is a kafka.Kafka started with OUR config: a stale pid
# file may name a process that reused the number.
our_pid() {
    local pid
    pid="$(read_pid)"
    [[ -n "$pid" ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONF_DIR/server.properties" || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- config
write_config() {
    mkdir -p "$DATA_DIR" "$LOG_DIR" "$CONF_DIR"
    local voters="" i replicas isr
    for ((i = 1; i <= NODES; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:${CONTROL_PORTS[$((i - 1))]}"
    done
    # Every node holds a copy of everything: replication = the node count (3 at most), and
    # min.insync.replicas = one fewer, so that one node may be lost (or restarted) without
    # stopping writes, and an acknowledged record is on two nodes at least.
    replicas=$((NODES < 3 ? NODES : 3))
    isr="${MCU_KAFKA_MIN_INSYNC_REPLICAS:-$((replicas > 1 ? replicas - 1 : 1))}"
    cat >"$CONF_DIR/server.properties" <<CONF
# Generated by deploy/kafka.sh on every start; edits here are lost (use MCU_KAFKA_EXTRA_PROPERTIES).
process.roles=broker,controller
node.id=$NODE_ID
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA_DIR

# $NODES node(s): internal and new topics get $replicas replica(s), writes need $isr in sync.
offsets.topic.replication.factor=$replicas
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$isr
default.replication.factor=$replicas
min.insync.replicas=$isr

# Development conveniences: no wait for more group members, topics appear on first use.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.partitions=4

# After a SIGKILL (fault tests) the new broker cannot register until the old registration's
# session expires (default 9 s); a shorter session with 4 heartbeats per session halves that.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# Records up to 4 MiB and dead letters that wrap them.
message.max.bytes=$MAX_MESSAGE_BYTES
replica.fetch.max.bytes=$MAX_MESSAGE_BYTES
CONF
    if ((NODES > 1)); then
        # Three JVMs share a laptop (or a 2-core CI runner) with the workers: fewer threads each.
        # A follower that has not fetched for 10 s leaves the ISR (30 s by default), so a node
        # killed under load stops holding back acks=all writes sooner.
        cat >>"$CONF_DIR/server.properties" <<CONF

# Cluster of $NODES on one machine.
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
background.threads=4
replica.lag.time.max.ms=10000
CONF
    fi
    if [[ -n "${MCU_KAFKA_EXTRA_PROPERTIES:-}" ]]; then
        [[ -f "$MCU_KAFKA_EXTRA_PROPERTIES" ]] || die "MCU_KAFKA_EXTRA_PROPERTIES=$MCU_KAFKA_EXTRA_PROPERTIES is not a file"
        { echo; echo "# from $MCU_KAFKA_EXTRA_PROPERTIES"; cat "$MCU_KAFKA_EXTRA_PROPERTIES"; } >>"$CONF_DIR/server.properties"
    fi
    # One rolling server.log instead of the tarball's five files: easier to tail in fault tests.
    cat >"$CONF_DIR/log4j2.xml" <<CONF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <RollingFile name="server" fileName="$SERVER_LOG" filePattern="$LOG_DIR/server.log.%i" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="server"/></Root>
    <Logger name="org.apache.kafka.clients" level="warn"/>
    <Logger name="kafka.request.logger" level="warn"/>
  </Loggers>
</Configuration>
CONF
}

# A Kafka Uuid is 16 random bytes in URL-safe base64 without padding (22 chars); making it here
# saves a JVM start for `StorageTool random-uuid`.
# Passed as --cluster-id=ID: one id in 32 starts with "-", which a separate argument would turn
# into an unknown option.
new_cluster_id() { head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# The nodes of a cluster must be formatted with one cluster id: the first node to be formatted
# writes it, the others read it.
cluster_id() {
    local file="$ROOT_KDIR/cluster.id"
    if ((NODES == 1)); then new_cluster_id; return; fi
    [[ -s "$file" ]] || new_cluster_id >"$file"
    cat "$file"
}

format_storage() {
    [[ -f "$DATA_DIR/meta.properties" ]] && return 0
    local id
    id="$(cluster_id)"
    local scram=() line
    while IFS= read -r line; do
        if [[ -n "$line" ]]; then scram+=(--add-scram "$line"); fi
    done <<<"${MCU_KAFKA_ADD_SCRAM:-}"
    say "formatting KRaft storage in $DATA_DIR (cluster id $id)"
    "$JAVA" -cp "$CACHE/lib/*" -Dlog4j2.configurationFile="$CONF_DIR/log4j2.xml" \
        kafka.tools.StorageTool format --cluster-id="$id" -c "$CONF_DIR/server.properties" "${scram[@]}" \
        >>"$LOG_DIR/format.out" 2>&1 \
        || { tail -n 30 "$LOG_DIR/format.out" >&2; die "formatting the storage failed"; }
}

# ---------------------------------------------------------------- commands
lock() {
    mkdir -p "$ROOT_KDIR"
    exec 9>"$ROOT_KDIR/.lock"
    flock 9
}

node_label() { if ((NODES == 1)); then echo "the broker"; else echo "node $NODE_ID"; fi; }

# Launches one node if it is not running; sets LAUNCHED to "PID OFFSET" to wait on, or empty.
LAUNCHED=""
launch_node() {
    LAUNCHED=""
    local pid heap
    if pid="$(our_pid)"; then
        if port_open "$PORT"; then
            if ((NODES == 1)); then
                say "already running (pid $pid, 127.0.0.1:$PORT)"
            else
                say "node $NODE_ID already running (pid $pid, 127.0.0.1:$PORT)"
            fi
            return 0
        fi
        say "$(node_label): pid $pid is running but not accepting yet; waiting"
        LAUNCHED="$pid 0"
        return 0
    fi
    rm -f "$PID_FILE"
    port_open "$PORT" && die "127.0.0.1:$PORT is already taken by another process"
    port_open "$CTRL_PORT" && die "127.0.0.1:$CTRL_PORT is already taken by another process"
    write_config
    format_storage
    local offset=0
    [[ -f "$SERVER_LOG" ]] && offset="$(stat -c %s "$SERVER_LOG")"
    printf '\n=== %s start (port %s) ===\n' "$(date -u +%FT%TZ)" "$PORT" >>"$LOG_DIR/kafka.out"
    if ((NODES == 1)); then heap="${MCU_KAFKA_HEAP:--Xmx512m -Xms256m}"; else heap="${MCU_KAFKA_HEAP:--Xmx384m -Xms128m}"; fi
    # setsid+nohup: the broker outlives the shell (and pytest) that started it; 9>&- keeps our lock
    # out of the broker, or the next start/stop would wait on it forever.
    # shellcheck disable=SC2086  # heap is a list of flags
    setsid nohup "$JAVA" $heap -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$CONF_DIR/log4j2.xml" \
        -cp "$CACHE/lib/*" kafka.Kafka "$CONF_DIR/server.properties" \
        >>"$LOG_DIR/kafka.out" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    LAUNCHED="$pid $offset"
}

start() {
    fetch
    lock
    command -v "$JAVA" >/dev/null || die "java not found (set JAVA_HOME)"
    mkdir -p "$ROOT_KDIR"
    if ((NODES > 1)); then echo "$NODES" >"$NODES_FILE"; fi
    # Every node is launched before any is waited on: a node of a 3-voter quorum does not finish
    # starting until a majority of the controllers runs.
    local i pending=()
    for i in $(selected_nodes); do
        use_node "$i"
        launch_node
        if [[ -n "$LAUNCHED" ]]; then pending+=("$i $LAUNCHED"); fi
    done
    local entry pid offset
    for entry in "${pending[@]+"${pending[@]}"}"; do
        read -r i pid offset <<<"$entry"
        use_node "$i"
        wait_ready "$pid" "$offset"
    done
}

# Ready = the listener accepts TCP AND this run's log says the server finished starting (the port
# alone opens before the broker has caught up with the metadata log and can serve requests).
wait_ready() {
    local pid="$1" offset="$2" started_at=$SECONDS
    while ((SECONDS - started_at < START_TIMEOUT)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            print_tail
            die "$(node_label) exited during start-up (see $SERVER_LOG and $LOG_DIR/kafka.out)"
        fi
        # grep -c reads to the end: with -q it would exit at the first match, tail would die of
        # SIGPIPE on a long log, and pipefail would call a started broker a failure.
        if port_open "$PORT" && tail -c +"$((offset + 1))" "$SERVER_LOG" 2>/dev/null \
            | grep -c 'Kafka Server started' >/dev/null; then
            if ((NODES == 1)); then
                say "running (pid $pid, 127.0.0.1:$PORT, ready in $((SECONDS - started_at)) s)"
            else
                say "node $NODE_ID running (pid $pid, 127.0.0.1:$PORT, ready in $((SECONDS - started_at)) s)"
            fi
            return 0
        fi
        sleep 0.25
    done
    print_tail
    die "$(node_label) did not accept clients within ${START_TIMEOUT} s (pid $pid still running; see $SERVER_LOG)"
}

print_tail() {
    {
        echo "---- last lines of $SERVER_LOG ----"
        tail -n 40 "$SERVER_LOG" 2>/dev/null || true
        echo "---- last lines of $LOG_DIR/kafka.out ----"
        tail -n 20 "$LOG_DIR/kafka.out" 2>/dev/null || true
    } >&2
}

stop_node() {
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        if ((NODES == 1)); then say "not running"; else say "node $NODE_ID not running"; fi
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local started_at=$SECONDS
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - started_at < STOP_TIMEOUT)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$(node_label): no clean exit after ${STOP_TIMEOUT} s; sending SIGKILL to $pid"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    if ((NODES == 1)); then
        say "stopped (pid $pid, $((SECONDS - started_at)) s)"
    else
        say "node $NODE_ID stopped (pid $pid, $((SECONDS - started_at)) s)"
    fi
}

stop() {
    lock
    local i
    # The last node of a quorum cannot shut down cleanly once the others are gone (no controller
    # to hand its leaderships to), so a cluster's nodes get their SIGTERM together.
    if ((NODES > 1)) && [[ -z "$ONLY_NODE" ]]; then
        for i in $(selected_nodes); do
            use_node "$i"
            stop_node &
        done
        wait
        return 0
    fi
    for i in $(selected_nodes); do
        use_node "$i"
        stop_node
    done
}

kill_broker() {
    lock
    local pid i
    for i in $(selected_nodes); do
        use_node "$i"
        if ! pid="$(our_pid)"; then
            rm -f "$PID_FILE"
            if ((NODES == 1)); then say "not running"; else say "node $NODE_ID not running"; fi
            continue
        fi
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$PID_FILE"
        if ((NODES == 1)); then say "killed (SIGKILL, pid $pid)"; else say "node $NODE_ID killed (SIGKILL, pid $pid)"; fi
    done
}

status() {
    local pid i rc=0
    for i in $(selected_nodes); do
        use_node "$i"
        if ((NODES == 1)); then
            if pid="$(our_pid)"; then
                if port_open "$PORT"; then
                    say "running (pid $pid, accepting on 127.0.0.1:$PORT, state in $KDIR)"
                    continue
                fi
                say "pid $pid is alive but 127.0.0.1:$PORT does not accept connections"
                rc=1
                continue
            fi
            say "not running (state in $KDIR)"
            rc=1
            continue
        fi
        if pid="$(our_pid)"; then
            if port_open "$PORT"; then
                say "node $i: up (pid $pid, 127.0.0.1:$PORT, controller :$CTRL_PORT, state in $KDIR)"
            else
                say "node $i: starting (pid $pid, 127.0.0.1:$PORT does not accept connections yet)"
                rc=1
            fi
        else
            say "node $i: down (127.0.0.1:$PORT, state in $KDIR)"
            rc=1
        fi
    done
    return "$rc"
}

logs() {
    local follow="" lines=100 arg
    for arg in "$@"; do
        case "$arg" in
            -f) follow=1 ;;
            *[!0-9]*) die "logs takes [-f] [N]" ;;
            *) lines="$arg" ;;
        esac
    done
    use_node "${ONLY_NODE:-1}"
    [[ -f "$SERVER_LOG" ]] || die "no log yet at $SERVER_LOG"
    if [[ -n "$follow" ]]; then exec tail -n "$lines" -F "$SERVER_LOG"; fi
    tail -n "$lines" "$SERVER_LOG"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
rest=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --brokers) [[ $# -ge 2 ]] || die "--brokers takes a number"; NODES="$2"; shift 2 ;;
        --brokers=*) NODES="${1#*=}"; shift ;;
        --node) [[ $# -ge 2 ]] || die "--node takes a number"; ONLY_NODE="$2"; shift 2 ;;
        --node=*) ONLY_NODE="${1#*=}"; shift ;;
        *) rest+=("$1"); shift ;;
    esac
done
[[ -z "$ONLY_NODE" || "$ONLY_NODE" =~ ^[1-9][0-9]*$ ]] || die "--node takes a node number"
case "$cmd" in
    fetch) fetch; say "jars ready in $CACHE/lib" ;;
    start) resolve_nodes; start ;;
    stop) resolve_nodes; stop ;;
    kill) resolve_nodes; kill_broker ;;
    restart) resolve_nodes; stop; start ;;
    status) resolve_nodes; status ;;
    logs) resolve_nodes; logs "${rest[@]}" ;;
    *) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
