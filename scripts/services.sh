#!/usr/bin/env bash
# Make sure the services the tests talk to are up: PostgreSQL on 127.0.0.1:5432 and Redis on
# 127.0.0.1:6379. Starts whichever is down, then waits until both answer; exits non-zero, saying
# which one, if either never does.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-60}

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }
redis_up() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

start_postgres() {
    command -v pg_ctlcluster >/dev/null || die "PostgreSQL is down and pg_ctlcluster is not installed"
    local version
    # One cluster version is installed on these machines; take the newest if there are more.
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is down and /etc/postgresql has no cluster"
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start \
        || say "pg_ctlcluster returned non-zero (it may already be starting); waiting"
}

start_redis() {
    command -v redis-server >/dev/null || die "Redis is down and redis-server is not installed"
    say "starting Redis"
    # Tests need no persistence: nothing is saved to disk.
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        >/dev/null || say "redis-server returned non-zero; waiting"
}

wait_for() {
    local name=$1 check=$2 deadline=$((SECONDS + WAIT_SECONDS))
    until "$check"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$name did not answer within ${WAIT_SECONDS}s"
        sleep 0.5
    done
    say "$name is up"
}

command -v pg_isready >/dev/null || die "pg_isready is not installed (Debian package postgresql-client)"
command -v redis-cli >/dev/null || die "redis-cli is not installed (Debian package redis-tools)"

pg_up || start_postgres
redis_up || start_redis
wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_up
wait_for "Redis on $REDIS_HOST:$REDIS_PORT" redis_up
