#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the test suite, installing it from
# Debian's packages when the machine has none. Prints the SQLAlchemy URL on stdout.
# Idempotent: a server already answering on the port is reused.
set -euo pipefail
PORT="${DATAOPS_TEST_PG_PORT:-55432}"
DATA="${DATAOPS_TEST_PG_DATA:-/tmp/dataops-test-pg}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(pg_bin)" ]; then
  echo "installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
BIN="$(pg_bin)"

if "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q; then
  echo "$URL"; exit 0
fi

run_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
rm -rf "$DATA"; mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
run_as_postgres "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
run_as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-p $PORT -c listen_addresses=127.0.0.1 -k /tmp -c max_connections=200 -c fsync=off" start >&2
echo "$URL"
