#!/usr/bin/env bash
# Local ClickHouse server for development, tests and CI: the engine of the pinned chdb-core wheel
# (ClickHouse 26.9.2.1) run as a server by sinks/clickhouse/local_server.py. No binary download,
# no Docker: `pip install -e .[dev]` brings everything. Loopback only (the listeners have no TLS).
#
# Usage: deploy/clickhouse.sh start|stop|kill|restart|status [--shards N] | logs [-f] [N]
#   start    start in the background, wait until /ping answers, create the database; already
#            running -> says so, exit 0
#   --shards N  (start/stop/kill/restart/status) N servers as the N shards of one cluster
#            (MCU_CLICKHOUSE_CLUSTER, default mcu_local) in <remote_servers> of each: shard k on
#            HTTP port MCU_CLICKHOUSE_HTTP_PORT+10(k-1), native MCU_CLICKHOUSE_TCP_PORT+10(k-1)
#            (or the k-th of MCU_CLICKHOUSE_SHARD_HTTP_PORTS / _SHARD_TCP_PORTS, comma lists),
#            state in <var>/clickhouse-shardK. No Keeper: plain MergeTree shards, docs/operations.md
#   stop     SIGTERM, wait for a clean exit (MCU_CLICKHOUSE_STOP_TIMEOUT, 30 s), then SIGKILL
#   kill     SIGKILL at once (fault tests: an unclean server death)
#   restart  stop + start (data is kept)
#   status   exit 0 if running and answering /ping, 1 otherwise
#   logs     tail the server log (-f to follow; N lines, default 100)
#
# Environment (all optional):
#   MCU_CLICKHOUSE_HTTP_PORT      HTTP interface on 127.0.0.1 (8123); the default DSN uses it
#   MCU_CLICKHOUSE_TCP_PORT       native protocol on 127.0.0.1 (9000; clickhouse-client, DBeaver)
#   MCU_CLICKHOUSE_DATABASE       database created at start (mcu, the default DSN's)
#   MCU_CLICKHOUSE_USERS_FRAGMENT file of <user> elements added to the generated users.xml
#   MCU_VAR_DIR                   state root; the server uses <it>/clickhouse-server/{data,logs,
#                                 access,config.xml,users.xml,clickhouse.pid}. Unset -> <repo>/var.
#   MCU_PYTHON                    the Python with chdb-core installed (<repo>/.venv/bin/python if
#                                 it exists, else python3 on PATH)
#   MCU_CLICKHOUSE_START_TIMEOUT  seconds to wait for /ping (60)
#   MCU_CLICKHOUSE_STOP_TIMEOUT   seconds to wait for a clean exit before SIGKILL (30)
# Everything lives under the var dir, so two servers with other ports and var dirs run side by side.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

# The engine version is the one chdb-core's wheel ships; pyproject.toml pins that wheel.
ENGINE_VERSION="26.9.2.1"
HTTP_PORT="${MCU_CLICKHOUSE_HTTP_PORT:-8123}"
TCP_PORT="${MCU_CLICKHOUSE_TCP_PORT:-9000}"
DATABASE="${MCU_CLICKHOUSE_DATABASE:-mcu}"
START_TIMEOUT="${MCU_CLICKHOUSE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${MCU_CLICKHOUSE_STOP_TIMEOUT:-30}"
if [[ -n "${MCU_PYTHON:-}" ]]; then
    PYTHON="$MCU_PYTHON"
elif [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
    PYTHON="$REPO_ROOT/.venv/bin/python"
else
    PYTHON="$(command -v python3 || true)"
fi
ENTRY="$REPO_ROOT/sinks/clickhouse/local_server.py"

if [[ -n "${MCU_VAR_DIR:-}" ]]; then
    VAR_DIR="$(mkdir -p "$MCU_VAR_DIR" && cd "$MCU_VAR_DIR" && pwd)"
else
    VAR_DIR="$REPO_ROOT/var"
fi
CDIR="$VAR_DIR/${MCU_CLICKHOUSE_STATE_NAME:-clickhouse-server}"
LOG_DIR="$CDIR/logs"
PID_FILE="$CDIR/clickhouse.pid"
SERVER_LOG="$LOG_DIR/clickhouse-server.log"
OUT="$LOG_DIR/stdout.log"

say() { printf 'clickhouse.sh: %s\n' "$*"; }
die() { printf 'clickhouse.sh: error: %s\n' "$*" >&2; exit 1; }

read_pid() { [[ -f "$PID_FILE" ]] && tr -dc '0-9' <"$PID_FILE" || true; }

# The pid is ours only if it is alive and runs the entry with OUR state dir: a stale pid file may
# name a process that reused the number.
our_pid() {
    local pid
    pid="$(read_pid)"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "local_server.py --dir $CDIR " || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# bash's /dev/tcp cannot speak HTTP; python's urllib is there whenever the server can run at all.
http() {
    "$PYTHON" - "$HTTP_PORT" "$1" <<'EOF'
import sys, urllib.request
port, sql = sys.argv[1], sys.argv[2]
url = f"http://127.0.0.1:{port}/" + ("ping" if sql == "ping" else "")
data = None if sql == "ping" else sql.encode()
with urllib.request.urlopen(url, data=data, timeout=5) as r:
    sys.stdout.write(r.read().decode())
EOF
}
pings() { [[ "$(http ping 2>/dev/null)" == Ok.* ]]; }

lock() {
    mkdir -p "$CDIR"
    exec 9>"$CDIR/.lock"
    flock 9
}

start() {
    [[ -n "$PYTHON" && -x "$(command -v "$PYTHON")" ]] || die "no Python found (set MCU_PYTHON)"
    "$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("chdb") is None)' 2>/dev/null \
        || die "$PYTHON has no chdb-core (pip install -e '.[dev]', or set MCU_PYTHON)"
    [[ "$DATABASE" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "MCU_CLICKHOUSE_DATABASE=$DATABASE is not a plain name"
    lock
    local pid
    if pid="$(our_pid)"; then
        if pings; then
            say "already running (pid $pid, http://127.0.0.1:$HTTP_PORT, native 127.0.0.1:$TCP_PORT)"
            return 0
        fi
        say "pid $pid is running but not answering yet; waiting"
        wait_ready "$pid"
        return 0
    fi
    rm -f "$PID_FILE"
    port_open "$HTTP_PORT" && die "127.0.0.1:$HTTP_PORT (MCU_CLICKHOUSE_HTTP_PORT) is already taken by another process"
    port_open "$TCP_PORT" && die "127.0.0.1:$TCP_PORT (MCU_CLICKHOUSE_TCP_PORT) is already taken by another process"
    mkdir -p "$LOG_DIR"
    local extra=()
    if [[ -n "${MCU_CLICKHOUSE_USERS_FRAGMENT:-}" ]]; then
        [[ -f "$MCU_CLICKHOUSE_USERS_FRAGMENT" ]] || die "MCU_CLICKHOUSE_USERS_FRAGMENT=$MCU_CLICKHOUSE_USERS_FRAGMENT is not a file"
        extra=(--users-fragment "$MCU_CLICKHOUSE_USERS_FRAGMENT")
    fi
    if [[ -n "${MCU_CLICKHOUSE_REMOTE:-}" ]]; then  # "cluster:tcp1,tcp2,..." set by the --shards loop below
        extra+=(--cluster "${MCU_CLICKHOUSE_REMOTE%%:*}" --shard-tcp-ports "${MCU_CLICKHOUSE_REMOTE#*:}")
    fi
    printf '\n=== %s start (http %s, native %s) ===\n' "$(date -u +%FT%TZ)" "$HTTP_PORT" "$TCP_PORT" >>"$OUT"
    # setsid+nohup: the server outlives the shell (and pytest) that started it; 9>&- keeps our lock
    # out of it, or the next start/stop would wait on it forever.
    setsid nohup "$PYTHON" "$ENTRY" --dir "$CDIR" --http-port "$HTTP_PORT" --tcp-port "$TCP_PORT" "${extra[@]}" \
        >>"$OUT" 2>&1 </dev/null 9>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"
    wait_ready "$pid"
    http "CREATE DATABASE IF NOT EXISTS $DATABASE" >/dev/null || die "could not create database $DATABASE"
    local version
    version="$(http "SELECT version()" | tr -d '\n')"
    [[ "$version" == "$ENGINE_VERSION" ]] || say "warning: engine $version, pinned $ENGINE_VERSION (pip install -e '.[dev]')"
}

wait_ready() {
    local pid="$1" started_at=$SECONDS
    while ((SECONDS - started_at < START_TIMEOUT)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            print_tail
            die "the server exited during start-up (see $OUT and $SERVER_LOG)"
        fi
        if pings; then
            say "running (pid $pid, http://127.0.0.1:$HTTP_PORT, native 127.0.0.1:$TCP_PORT, ready in $((SECONDS - started_at)) s)"
            return 0
        fi
        sleep 0.2
    done
    print_tail
    die "the server did not answer /ping within ${START_TIMEOUT} s (pid $pid still running; see $SERVER_LOG)"
}

print_tail() {
    {
        echo "---- last lines of $OUT ----"
        tail -n 20 "$OUT" 2>/dev/null || true
        echo "---- last lines of ${SERVER_LOG%.log}.err.log ----"
        tail -n 20 "${SERVER_LOG%.log}.err.log" 2>/dev/null || true
    } >&2
}

stop() {
    lock
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        say "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local started_at=$SECONDS
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - started_at < STOP_TIMEOUT)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "no clean exit after ${STOP_TIMEOUT} s; sending SIGKILL to $pid"
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid, $((SECONDS - started_at)) s)"
}

kill_server() {
    lock
    local pid
    if ! pid="$(our_pid)"; then
        rm -f "$PID_FILE"
        say "not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$PID_FILE"
    say "killed (SIGKILL, pid $pid)"
}

status() {
    local pid
    if pid="$(our_pid)"; then
        if pings; then
            say "running (pid $pid, http://127.0.0.1:$HTTP_PORT, native 127.0.0.1:$TCP_PORT, state in $CDIR)"
            return 0
        fi
        say "pid $pid is alive but http://127.0.0.1:$HTTP_PORT/ping does not answer"
        return 1
    fi
    say "not running (state in $CDIR)"
    return 1
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
    [[ -f "$SERVER_LOG" ]] || die "no log yet at $SERVER_LOG"
    if [[ -n "$follow" ]]; then exec tail -n "$lines" -F "$SERVER_LOG"; fi
    tail -n "$lines" "$SERVER_LOG"
}

# --shards N: run this script once per shard with that shard's ports and state dir.
shards() {
    local cmd="$1" n="$2" k http tcp rc=0
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--shards takes a number of shards"
    local cluster="${MCU_CLICKHOUSE_CLUSTER:-mcu_local}"
    [[ "$cluster" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "MCU_CLICKHOUSE_CLUSTER=$cluster is not a plain name"
    local -a https tcps
    IFS=, read -r -a https <<<"${MCU_CLICKHOUSE_SHARD_HTTP_PORTS:-}"
    IFS=, read -r -a tcps <<<"${MCU_CLICKHOUSE_SHARD_TCP_PORTS:-}"
    for ((k = 0; k < n; k++)); do
        https[k]="${https[k]:-$((HTTP_PORT + 10 * k))}"
        tcps[k]="${tcps[k]:-$((TCP_PORT + 10 * k))}"
    done
    local remote="$cluster:$(IFS=,; echo "${tcps[*]:0:n}")"
    for ((k = 0; k < n; k++)); do
        say "shard $((k + 1)) of $n ($cluster):"
        MCU_CLICKHOUSE_STATE_NAME="clickhouse-shard$((k + 1))" MCU_CLICKHOUSE_HTTP_PORT="${https[k]}" \
            MCU_CLICKHOUSE_TCP_PORT="${tcps[k]}" MCU_CLICKHOUSE_REMOTE="$remote" "${BASH_SOURCE[0]}" "$cmd" || rc=$?
    done
    return "$rc"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
if [[ "${1:-}" == "--shards" ]]; then
    case "$cmd" in
        start | stop | kill | status) shards "$cmd" "${2:-}"; exit $? ;;
        restart) shards stop "${2:-}"; shards start "${2:-}"; exit $? ;;
        *) die "--shards goes with start, stop, kill, restart or status" ;;
    esac
fi
case "$cmd" in
    start) start ;;
    stop) stop ;;
    kill) kill_server ;;
    restart) stop; start ;;
    status) status ;;
    logs) logs "$@" ;;
    *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
