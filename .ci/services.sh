#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster and Redis server on 127.0.0.1 for the test suites that
# need them, and prints the `export` lines that point the tests at them:
#   eval "$(bash .ci/services.sh)"
# Installs Debian's postgresql and redis-server when missing. Data lives under $FLUME_SERVICES_DIR
# (default /tmp/flume-services) and is wiped on every start. `bash .ci/services.sh stop` stops both.
set -euo pipefail
dir="${FLUME_SERVICES_DIR:-/tmp/flume-services}"
pg_port="${FLUME_PG_PORT:-55432}"
redis_port="${FLUME_REDIS_PORT:-56379}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"

stop() {
  if [ -n "$pg_bin" ] && [ -f "$dir/pg/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "'$pg_bin/pg_ctl' -D '$dir/pg' -m immediate stop" >&2 || true
  fi
  if command -v redis-cli > /dev/null; then redis-cli -p "$redis_port" shutdown nosave >&2 2>/dev/null || true; fi
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi

if [ -z "$pg_bin" ] || ! command -v redis-server > /dev/null; then
  echo "--- installing postgresql and redis-server (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql redis-server > /dev/null
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi

stop
rm -rf "$dir"
mkdir -p "$dir/pg" "$dir/redis"
chown -R postgres:postgres "$dir/pg"
# Trust on loopback only: a throwaway cluster for tests, never a real database.
su postgres -s /bin/sh -c "'$pg_bin/initdb' -D '$dir/pg' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" > /dev/null
su postgres -s /bin/sh -c "'$pg_bin/pg_ctl' -D '$dir/pg' -l '$dir/pg/server.log' -w -o \"-h 127.0.0.1 -p $pg_port -k '$dir/pg' -c fsync=off -c max_connections=300\" start" > /dev/null
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -q -c 'CREATE DATABASE flume_test' >&2

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --dir "$dir/redis" --logfile "$dir/redis/server.log" > /dev/null
for _ in $(seq 50); do redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping > /dev/null

echo "export FLUME_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/flume_test"
echo "export FLUME_TEST_REDIS_URL=redis://127.0.0.1:$redis_port"
