#!/usr/bin/env bash
# A PostgreSQL cluster for the Prefect server, kept in a folder of its own (default: .postgres/ here).
#
#   scripts/postgres.sh start [--dir DIR] [--port PORT] [--no-sync]
#                                   create the cluster on first use, start it, print its URL
#   scripts/postgres.sh url   [--dir DIR]                 print postgresql+asyncpg://prefect:...@127.0.0.1:PORT/prefect
#   scripts/postgres.sh stop  [--dir DIR]                 fast shutdown (the folder stays)
#   scripts/postgres.sh status [--dir DIR]
#
# Why a script: initdb and postgres refuse to run as root, and CI runs as root. As root the cluster
# belongs to an unprivileged system user ($NARRATION_PG_USER, default narration-pg, created if
# missing) and every server command runs through `runuser`; as anyone else it belongs to the caller.
# The server listens on 127.0.0.1 only (plus a Unix socket inside DIR for administration), on PORT,
# the port it used last time, or a free one. Prefect gets a role and a database named `prefect`
# (password in DIR/password) and the pg_trgm extension it needs. --no-sync is for throwaway
# clusters (tests): nothing is flushed to disk, so a crash of the machine loses the database.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_USER="${NARRATION_PG_USER:-narration-pg}"
ROLE=prefect
DATABASE=prefect

die() { echo "postgres.sh: $*" >&2; exit 1; }

usage() { sed -n '2,8s/^# \{0,1\}//p' "$0" >&2; exit 2; }

command="${1:-}"
[ -n "$command" ] || usage
shift
DIR="${NARRATION_PG_DIR:-$ROOT/.postgres}"
PORT="${NARRATION_PG_PORT:-}"
NO_SYNC=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR="${2:?--dir needs a folder}"; shift 2 ;;
        --port) PORT="${2:?--port needs a number}"; shift 2 ;;
        --no-sync) NO_SYNC=1; shift ;;
        *) usage ;;
    esac
done
case "$PORT" in ''|*[!0-9]*) [ -z "$PORT" ] || die "--port must be a number, not '$PORT'" ;; esac
case "$command" in
    start) mkdir -p "$DIR" ;;
    stop|url|status) [ -d "$DIR" ] || { [ "$command" = stop ] && exit 0; die "no cluster in $DIR"; } ;;
    *) usage ;;
esac
DIR="$(cd "$DIR" && pwd)"
DATA="$DIR/data"
SOCKETS="$DIR/run"
# A Unix socket path holds at most 107 bytes.
[ ${#SOCKETS} -le 80 ] || die "$DIR is too deep for a Unix socket path: choose a shorter --dir"

# The newest installed server (Debian keeps each major version in /usr/lib/postgresql/N/bin).
if [ -z "${PG_BINDIR:-}" ]; then
    PG_BINDIR="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$PG_BINDIR" ] || PG_BINDIR="$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")"
fi
[ -x "$PG_BINDIR/pg_ctl" ] || die "no PostgreSQL server found: apt-get install -y postgresql (or set PG_BINDIR)"

if [ "$(id -u)" = 0 ]; then
    if ! id -u "$PG_USER" >/dev/null 2>&1; then
        # A concurrent run may create the user first: only its absence afterwards is an error.
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            "$PG_USER" 2>/dev/null || id -u "$PG_USER" >/dev/null
    fi
    as_owner() { runuser -u "$PG_USER" -- "$@"; }
    chown "$PG_USER:" "$DIR"
else
    as_owner() { "$@"; }
fi
chmod 700 "$DIR"
as_owner test -w "$DIR" || die "$PG_USER cannot write $DIR: every folder above it must be traversable (chmod o+x)"

pg_ctl() { as_owner "$PG_BINDIR/pg_ctl" -D "$DATA" "$@"; }
running() { [ -f "$DATA/PG_VERSION" ] && pg_ctl status >/dev/null 2>&1; }

url() {
    [ -f "$DIR/password" ] && [ -f "$DIR/port" ] || die "no cluster in $DIR: run '$0 start --dir $DIR' first"
    echo "postgresql+asyncpg://$ROLE:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/$DATABASE"
}

# The port given, else the one used last time if it is still free, else any free one.
choose_port() {
    [ -z "$PORT" ] || { echo "$PORT"; return; }
    python3 - "$(cat "$DIR/port" 2>/dev/null || echo 0)" <<'PY'
import socket
import sys

for port in (int(sys.argv[1]), 0):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(s.getsockname()[1])
        break
PY
}

initialize() {
    local version
    version="$("$PG_BINDIR/pg_ctl" --version | awk '{print $NF}')"
    # Prefect needs PostgreSQL 14.9 or later.
    printf '%s\n' 14.9 "$version" | sort -V -C || die "PostgreSQL $version is too old: Prefect needs 14.9 or later"
    as_owner "$PG_BINDIR/initdb" -D "$DATA" --encoding=UTF8 --locale=C \
        --auth-local=peer --auth-host=scram-sha-256 ${NO_SYNC:+--no-sync} >"$DIR/initdb.log" 2>&1 \
        || die "initdb failed: $(tail -n 5 "$DIR/initdb.log")"
    # Settings this script owns live in their own file, rewritten at every start.
    echo "include_if_exists = 'narration.conf'" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
    (umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$DIR/password")
}

# Create (or repair) the role, the database and the extension; safe to run at every start.
provision() {
    as_owner "$PG_BINDIR/psql" -h "$SOCKETS" -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -qAt >/dev/null <<SQL
SET client_min_messages = warning;
SELECT 'CREATE ROLE $ROLE LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') \gexec
ALTER ROLE $ROLE PASSWORD '$(cat "$DIR/password")';
SELECT 'CREATE DATABASE $DATABASE OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
\connect $DATABASE
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
SQL
}

start() {
    if running; then
        [ -z "$PORT" ] || [ "$PORT" = "$(cat "$DIR/port")" ] || die "already running on port $(cat "$DIR/port")"
        url
        return
    fi
    [ -f "$DATA/PG_VERSION" ] || initialize
    PORT="$(choose_port)"
    as_owner mkdir -p "$SOCKETS"
    as_owner tee "$DATA/narration.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKETS'
${NO_SYNC:+fsync = off
synchronous_commit = off
full_page_writes = off}
CONF
    echo "$PORT" >"$DIR/port"
    pg_ctl -l "$DIR/postgres.log" -w -t 120 start >/dev/null \
        || die "the server did not start: $(tail -n 5 "$DIR/postgres.log" 2>/dev/null)"
    provision
    url
}

case "$command" in
    start) start ;;
    stop) if running; then pg_ctl -m fast -w -t 60 stop >/dev/null; fi ;;
    url) url ;;
    status) if running; then echo "running on 127.0.0.1:$(cat "$DIR/port") ($DATA)"; else echo "stopped ($DIR)"; exit 3; fi ;;
    *) usage ;;
esac
