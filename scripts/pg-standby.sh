#!/usr/bin/env bash
# A PostgreSQL primary and a hot standby that streams from it, both on loopback and both under
# one scratch directory, for trying (and testing) the service against a read replica. Nothing
# of the machine's own PostgreSQL cluster is used or changed: fresh clusters from initdb and
# pg_basebackup, their own ports, their own socket directory.
#
#   scripts/pg-standby.sh start    create what is missing, start both, wait until the standby
#                                  answers reads; prints PRIMARY_URL=... and STANDBY_URL=...
#   scripts/pg-standby.sh status   both servers' state and the replication lag (exit 3 unless
#                                  both run)
#   scripts/pg-standby.sh stop     stop both and remove the directory
#   scripts/pg-standby.sh check    exit 1, saying what is missing, when the binaries are not here
#
# Every command may be repeated. Environment (defaults in brackets):
#   STATS_PG_STANDBY_DIR   [/tmp/stats-pg-standby]       where both clusters live
#   STATS_PG_PRIMARY_PORT  [55432]
#   STATS_PG_STANDBY_PORT  [55433]
#   PG_BIN                 [/usr/lib/postgresql/15/bin]  initdb, pg_ctl, pg_basebackup, psql
# As root the servers run as the user `postgres` (initdb and pg_ctl refuse root).
set -euo pipefail

dir=${STATS_PG_STANDBY_DIR:-/tmp/stats-pg-standby}
primary_port=${STATS_PG_PRIMARY_PORT:-55432}
standby_port=${STATS_PG_STANDBY_PORT:-55433}
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
primary=$dir/primary
standby=$dir/standby
sockets=$dir/sockets
marker=$dir/.stats-pg-standby
database=stats
timeout=60

say() { echo "pg-standby: $*" >&2; }
die() { say "$*"; exit 1; }

# What is missing to run the pair here, or nothing.
missing() {
    local tool
    for tool in initdb pg_ctl pg_basebackup postgres psql; do
        [ -x "$bin/$tool" ] || { echo "$bin/$tool is missing (PG_BIN names the directory of PostgreSQL's binaries)"; return; }
    done
    if [ "$(id -u)" = 0 ]; then
        command -v runuser >/dev/null || { echo "runuser is missing (needed to run PostgreSQL as a user other than root)"; return; }
        id -u postgres >/dev/null 2>&1 || { echo "there is no user postgres to run the servers as"; return; }
    fi
}

# Runs a PostgreSQL tool as the user that owns the clusters, from a directory it may enter.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

running() { [ -f "$1/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$1" status >/dev/null 2>&1; }

sql() {
    local port=$1
    shift
    "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tA "$@"
}

start_cluster() {
    local data=$1 name=$2
    running "$data" && return
    if ! as_owner "$bin/pg_ctl" -D "$data" -l "$dir/$name.log" -w -t "$timeout" start >/dev/null; then
        tail -n 20 "$dir/$name.log" >&2 || true
        die "the $name did not start (log: $dir/$name.log)"
    fi
}

# Polls `sql PORT QUERY` until it prints `want`, for at most $timeout seconds.
wait_for() {
    local port=$1 query=$2 want=$3 what=$4 deadline=$((SECONDS + timeout))
    until [ "$(sql "$port" -c "$query" 2>/dev/null)" = "$want" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${timeout}s waiting for $what"
        sleep 0.1
    done
}

start() {
    local why
    why=$(missing)
    [ -z "$why" ] || die "$why"
    if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir")" ]; then
        die "$dir exists and is not this script's (no $marker); choose STATS_PG_STANDBY_DIR"
    fi
    mkdir -p "$dir" "$sockets"
    touch "$marker"
    if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir"; fi

    if [ ! -f "$primary/PG_VERSION" ]; then
        # A standby of an earlier primary cannot follow a new one.
        rm -rf "$primary" "$standby"
        say "initdb $primary"
        as_owner "$bin/initdb" -D "$primary" -U postgres --auth=trust -E UTF8 --no-locale \
            --no-instructions >"$dir/initdb.log"
        cat >>"$primary/postgresql.conf" <<EOF

# pg-standby.sh: a primary for one streaming standby, on loopback only.
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$sockets'
wal_level = replica
max_wal_senders = 4
wal_keep_size = '128MB'
max_connections = 60
shared_buffers = '32MB'
hot_standby = on
EOF
        cat >"$primary/pg_hba.conf" <<EOF
# pg-standby.sh: trust on the socket and on loopback, replication included.
local   all           all                  trust
host    all           all    127.0.0.1/32  trust
local   replication   all                  trust
host    replication   all    127.0.0.1/32  trust
EOF
    fi
    say "primary on 127.0.0.1:$primary_port"
    start_cluster "$primary" primary
    if [ "$(sql "$primary_port" -c "SELECT count(*) FROM pg_database WHERE datname = '$database'")" = 0 ]; then
        sql "$primary_port" -c "CREATE DATABASE $database"
    fi

    if [ ! -f "$standby/PG_VERSION" ]; then
        rm -rf "$standby"
        say "pg_basebackup -R -X stream into $standby"
        as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$standby" \
            -R -X stream -c fast
        # The copied postgresql.conf names the primary's port; a later line wins.
        cat >>"$standby/postgresql.conf" <<EOF

# pg-standby.sh: the hot standby.
port = $standby_port
hot_standby = on
hot_standby_feedback = on
EOF
    fi
    say "standby on 127.0.0.1:$standby_port"
    start_cluster "$standby" standby
    wait_for "$standby_port" "SELECT pg_is_in_recovery()" t "the standby to accept reads"
    wait_for "$primary_port" \
        "SELECT count(*) > 0 FROM pg_stat_replication WHERE state = 'streaming'" t \
        "the standby to stream from the primary"
    echo "PRIMARY_URL=postgres://postgres@127.0.0.1:$primary_port/$database"
    echo "STANDBY_URL=postgres://postgres@127.0.0.1:$standby_port/$database"
}

status() {
    local up=0
    if running "$primary"; then
        echo "primary: running on 127.0.0.1:$primary_port"
        sql "$primary_port" -c "SELECT 'replication: ' || application_name || ' ' || state || \
            ', replay lag ' || COALESCE(replay_lag::text, '0') FROM pg_stat_replication" || true
        up=$((up + 1))
    else
        echo "primary: stopped"
    fi
    if running "$standby"; then
        echo "standby: running on 127.0.0.1:$standby_port, in recovery: $(sql "$standby_port" -c 'SELECT pg_is_in_recovery()' || echo '?')"
        up=$((up + 1))
    else
        echo "standby: stopped"
    fi
    [ "$up" = 2 ] || exit 3
}

stop() {
    [ -e "$dir" ] || return 0
    [ -e "$marker" ] || die "$dir is not this script's (no $marker); not touching it"
    local data
    for data in "$standby" "$primary"; do
        if running "$data"; then
            as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t "$timeout" stop >/dev/null
        fi
    done
    rm -rf "$dir"
    say "stopped; removed $dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    check)
        why=$(missing)
        [ -z "$why" ] || { echo "$why"; exit 1; }
        ;;
    *)
        echo "usage: $0 start|stop|status|check" >&2
        exit 2
        ;;
esac
