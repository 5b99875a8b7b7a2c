#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis servers the test suite uses are reachable.
#
#   DROPKIT_TEST_POSTGRES_URL  default postgresql://postgres@127.0.0.1:5432/postgres
#   DROPKIT_TEST_REDIS_URL     default redis://127.0.0.1:6379/0
#   CI=true                    a service that stays unreachable fails this script (exit 1);
#                              otherwise it only warns. Services are never silently skipped.
#
# A service that does not answer is started here only when its URL is the default local one
# (loopback host and the standard port): PostgreSQL with pg_ctlcluster (creating a cluster, with
# trust auth on loopback, only if none exists), Redis with redis-server --daemonize. As root, the
# Debian packages are installed first if missing. Any other URL is only probed and reported.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_URL="${DROPKIT_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${DROPKIT_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
WAIT_SECONDS="${DROPKIT_SERVICES_WAIT:-30}"
VENV_PY=".venv/bin/python"

log() { printf 'ensure-services: %s\n' "$*"; }
is_root() { [ "$(id -u)" -eq 0 ]; }

if [ -x "$VENV_PY" ]; then HELPER_PY="$VENV_PY"; else HELPER_PY="$(command -v python3 || true)"; fi

# --- probing ----------------------------------------------------------------------------------
# probe KIND URL prints nothing on success and returns
#   0 reachable and answering,
#   1 not answering (connection refused, timeout, server still starting),
#   2 answering but refusing us (authentication, missing database...): waiting will not help.
# The error detail of the last probe is left in $PROBE_ERROR.
PROBE_ERROR=""

# Exit 3 means the client library is not installed (no venv yet): fall back to CLI tools.
PY_PROBE='
import asyncio, sys

kind, url = sys.argv[1], sys.argv[2]
TIMEOUT = 3.0

async def postgres() -> None:
    import asyncpg
    conn = await asyncpg.connect(url, timeout=TIMEOUT)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()

async def redis() -> None:
    import redis.asyncio as aioredis
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
    )
    try:
        await client.ping()
    finally:
        await client.aclose()

try:
    asyncio.run(asyncio.wait_for(postgres() if kind == "postgres" else redis(), TIMEOUT * 2))
except ImportError as exc:
    print(exc)
    sys.exit(3)
except Exception as exc:
    name = type(exc).__name__
    print(f"{name}: {exc}")
    transient = isinstance(exc, (OSError, TimeoutError)) or name in {
        "ConnectionError",            # redis
        "TimeoutError",               # redis
        "BusyLoadingError",           # redis loading its dataset
        "CannotConnectNowError",      # postgres starting up / shutting down
        "ConnectionDoesNotExistError",
    }
    sys.exit(1 if transient else 2)
'

url_host_port() {  # URL DEFAULT_PORT -> "host port"
    "$HELPER_PY" -c '
import sys, urllib.parse
p = urllib.parse.urlsplit(sys.argv[1])
print(p.hostname or "localhost", p.port or sys.argv[2])
' "$1" "$2"
}

tcp_open() {  # HOST PORT
    # shellcheck disable=SC2016  # expanded by the inner bash
    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

probe() {  # KIND URL DEFAULT_PORT
    local kind="$1" url="$2" rc=0
    if [ -n "$HELPER_PY" ]; then
        PROBE_ERROR="$("$HELPER_PY" -c "$PY_PROBE" "$kind" "$url" 2>&1)" || rc=$?
        [ "$rc" -ne 3 ] && return "$rc"
        rc=0
    fi
    # No client library: use the command-line tools, or at least a TCP connect.
    if [ "$kind" = postgres ] && command -v pg_isready >/dev/null 2>&1; then
        PROBE_ERROR="$(pg_isready -d "$url" -t 3 2>&1)" && return 0
        return 1
    fi
    if [ "$kind" = redis ] && command -v redis-cli >/dev/null 2>&1; then
        PROBE_ERROR="$(timeout 5 redis-cli -u "$url" ping 2>&1)" || true
        [ "$PROBE_ERROR" = PONG ] && return 0
        case "$PROBE_ERROR" in *NOAUTH* | *WRONGPASS* | *NOPERM*) return 2 ;; esac
        return 1
    fi
    local host port
    read -r host port < <(url_host_port "$url" "$3")
    if tcp_open "$host" "$port"; then return 0; fi
    PROBE_ERROR="nothing listening on $host:$port"
    return 1
}

wait_for() {  # KIND URL DEFAULT_PORT -> probe's code after at most WAIT_SECONDS
    local deadline=$((SECONDS + WAIT_SECONDS)) rc
    while :; do
        rc=0
        probe "$@" || rc=$?
        if [ "$rc" -ne 1 ] || [ "$SECONDS" -ge "$deadline" ]; then return "$rc"; fi
        sleep 1
    done
}

is_default_local() {  # URL DEFAULT_PORT
    local host port
    read -r host port < <(url_host_port "$1" "$2")
    case "$host" in 127.0.0.1 | localhost | ::1) [ "$port" = "$2" ] ;; *) return 1 ;; esac
}

# --- installing and starting --------------------------------------------------------------------
APT_UPDATED=0
apt_install() {  # PACKAGE...
    if ! is_root; then
        log "warning: cannot install $* (not root); run: sudo apt-get install -y $*"
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" -eq 0 ]; then apt-get update -q && APT_UPDATED=1; fi
    apt-get install -y -q --no-install-recommends "$@"
}

pg_trust_loopback() {  # VERSION: trust auth on 127.0.0.1/::1, for a cluster this script created
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    [ -f "$hba" ] || return 0
    grep -q 'dropkit ensure-services' "$hba" && return 0
    log "configuring trust auth on loopback in $hba (local testing only)"
    {
        echo "# dropkit ensure-services: trust on loopback for local testing (cluster created by it)"
        echo "host    all    all    127.0.0.1/32    trust"
        echo "host    all    all    ::1/128         trust"
        cat "$hba"
    } >"$hba.dropkit-tmp"
    chown --reference="$hba" "$hba.dropkit-tmp" 2>/dev/null || true
    chmod --reference="$hba" "$hba.dropkit-tmp"
    mv "$hba.dropkit-tmp" "$hba"
}

latest_version() {  # DIR -> the highest version-named subfolder, or nothing
    local dirs=("$1"/*/)
    [ -d "${dirs[0]}" ] || return 0
    printf '%s\n' "${dirs[@]}" | awk -F/ '{print $(NF-1)}' | sort -V | tail -n 1
}

start_postgres() {
    local created=0 ver
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        log "PostgreSQL is not installed; installing the Debian package"
        apt_install postgresql || return 1
        created=1  # the package's post-install created the 'main' cluster
    fi
    ver="$(latest_version /etc/postgresql)"
    [ -n "$ver" ] || ver="$(latest_version /usr/lib/postgresql)"
    if [ -z "$ver" ]; then
        log "no PostgreSQL version found under /etc/postgresql or /usr/lib/postgresql"
        return 1
    fi
    if [ -d "/etc/postgresql/$ver/main" ]; then
        [ "$created" -eq 1 ] && pg_trust_loopback "$ver"
        log "starting PostgreSQL $ver cluster 'main'"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
        # Already running (e.g. started by the package install): pick up the pg_hba change.
        [ "$created" -eq 1 ] && { pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true; }
    else
        log "creating and starting PostgreSQL $ver cluster 'main' on port 5432 (trust auth)"
        pg_createcluster --port 5432 --start "$ver" main -- --auth-local=trust --auth-host=trust
        pg_trust_loopback "$ver"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
    fi
}

start_redis() {
    if ! command -v redis-server >/dev/null 2>&1; then
        log "Redis is not installed; installing the Debian package"
        apt_install redis-server || return 1
        # The package may have started its own server; only start ours if nothing answers.
        probe redis "$REDIS_URL" 6379 && return 0
    fi
    log "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
}

# --- main -------------------------------------------------------------------------------------
FAILED=()

start() {  # KIND
    case "$1" in
        postgres) start_postgres ;;
        redis) start_redis ;;
    esac
}

ensure() {  # KIND LABEL URL DEFAULT_PORT
    local kind="$1" label="$2" url="$3" port="$4" rc=0
    probe "$kind" "$url" "$port" || rc=$?
    if [ "$rc" -eq 1 ] && is_default_local "$url" "$port"; then
        log "$label does not answer at $url; trying to start it"
        if start "$kind"; then
            rc=0
            wait_for "$kind" "$url" "$port" || rc=$?
        fi
    elif [ "$rc" -eq 1 ]; then
        log "$label does not answer at $url (not the default local server: not starting it)"
    fi
    if [ "$rc" -eq 0 ]; then
        log "$label reachable at $url"
    else
        log "$label NOT usable at $url: ${PROBE_ERROR:-no answer}"
        FAILED+=("$label")
    fi
}

ensure postgres PostgreSQL "$PG_URL" 5432
ensure redis Redis "$REDIS_URL" 6379

if [ "${#FAILED[@]}" -eq 0 ]; then
    exit 0
fi

failed="${FAILED[*]}"
failed="${failed// / and }"
hint="set DROPKIT_TEST_POSTGRES_URL / DROPKIT_TEST_REDIS_URL to running servers"
if [ "${CI:-}" = true ]; then
    log "error: $failed not usable and CI=true: failing ($hint)"
    exit 1
fi
log "warning: $failed not usable; the tests that need it will fail ($hint)"
exit 0
