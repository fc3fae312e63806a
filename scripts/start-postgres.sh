#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and local experiments (trust auth, no fsync).
#
#   scripts/start-postgres.sh DIR [PORT]   initdb DIR/data (once), start on 127.0.0.1:PORT
#                                           (default 54329) and on a unix socket in DIR, create
#                                           the database spotsched_test, print its URL.
#   scripts/start-postgres.sh --stop DIR   pg_ctl stop -m fast
#
# initdb refuses to run as root, so as root the server runs as the `postgres` OS user (DIR is
# created if missing and handed to that user; its parent must be traversable by it, e.g. /tmp).
# Binaries: $PG_BIN, else the newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`,
# else PATH. tests/conftest.py drives this script; it never touches a server it did not start.
set -euo pipefail

usage() { echo "usage: $0 DIR [PORT] | $0 --stop DIR" >&2; exit 2; }

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/initdb" ]] || { echo "PG_BIN=$PG_BIN has no initdb" >&2; exit 127; }
        echo "$PG_BIN"; return
    fi
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir; return
    fi
    if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return; fi
    echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql or set PG_BIN" >&2
    exit 127
}

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

[[ $# -ge 1 ]] || usage
BIN=$(find_bin)

if [[ "$1" == "--stop" ]]; then
    [[ $# -eq 2 ]] || usage
    as_owner "$BIN/pg_ctl" stop -D "$2/data" -m fast -w >/dev/null
    exit 0
fi

DIR=$1
PORT=${2:-54329}
[[ $# -le 2 ]] || usage
mkdir -p "$DIR"
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "running as root needs a 'postgres' OS user" >&2; exit 1; }
    chown postgres: "$DIR"
fi
if [[ ! -f "$DIR/data/PG_VERSION" ]]; then
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
as_owner "$BIN/pg_ctl" start -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o "\
-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = 'spotsched_test'" | grep -q 1; then
    as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres spotsched_test
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/spotsched_test"
