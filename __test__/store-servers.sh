#!/usr/bin/env bash
# Starts (or stops) the real servers the storage tests use, on 127.0.0.1 only:
#   PostgreSQL from Debian's packages (a throwaway cluster) and moto's S3 server (PyPI).
#   store-servers.sh install        apt/pip install what is missing (CI and fresh machines)
#   store-servers.sh start DIR [pg|s3|all]   start them under DIR; prints the env lines to use
#   store-servers.sh stop DIR       stop what start DIR started
# Tests fail (never skip) when a server cannot be started.
set -euo pipefail

cmd=${1:?usage: store-servers.sh install|start DIR|stop DIR}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$d" ] || { echo "store-servers: PostgreSQL is not installed (store-servers.sh install)" >&2; exit 1; }
  echo "$d"
}

# Below the kernel's ephemeral range: a port there can be taken as the local end of any
# outgoing connection (the bots', the test server's), between our check and the server's
# bind or a restart's (moto once failed so: "Address already in use").
free_port() {
  local p low=32768
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 11000 ] || low=32768
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (low - 10000)))
    if ! (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo $p; return; fi
  done
  echo "store-servers: no free port" >&2; exit 1
}

as_pg() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  install)
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
      python3 -m pip install -q 'moto[server]==5.*'
    fi
    ;;
  start)
    dir=${2:?start DIR}
    which=${3:-all}
    mkdir -p "$dir"
    : > "$dir/env"
    if [ "$which" = all ] || [ "$which" = pg ]; then
    bin=$(pg_bin)
    pgdata="$dir/pg"
    mkdir -p "$pgdata"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir" "$pgdata"; fi
    as_pg "$bin/initdb" -D "$pgdata" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1
    pgport=$(free_port)
    as_pg "$bin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w -t 60 \
      -o "-h 127.0.0.1 -p $pgport -k $pgdata -c fsync=off -c max_connections=200" start >/dev/null
    {
      echo "WA_TEST_PG_URL=postgres://postgres@127.0.0.1:$pgport/postgres"
      echo "WA_TEST_PG_DATA=$pgdata"
      echo "WA_TEST_PG_BIN=$bin"
    } >> "$dir/env"
    fi
    if [ "$which" = all ] || [ "$which" = s3 ]; then
    python3 -c 'import moto.server' >/dev/null 2>&1 || { echo "store-servers: moto's server is not installed (store-servers.sh install)" >&2; exit 1; }
    # Another program can still take the port between the check and the bind: a few tries.
    for _ in 1 2 3; do
      s3port=$(free_port)
      python3 "$(dirname "$0")/moto-s3.py" -H 127.0.0.1 -p "$s3port" >"$dir/moto.log" 2>&1 &
      echo $! > "$dir/moto.pid"
      for _ in $(seq 1 100); do
        if (echo > /dev/tcp/127.0.0.1/$s3port) 2>/dev/null; then break 2; fi
        kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null || break
        sleep 0.1
      done
      kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
    done
    if ! (echo > /dev/tcp/127.0.0.1/$s3port) 2>/dev/null; then
      echo "store-servers: moto did not start" >&2; cat "$dir/moto.log" >&2
      bash "$0" stop "$dir"
      exit 1
    fi
    {
      echo "WA_TEST_S3_ENDPOINT=http://127.0.0.1:$s3port"
      echo "WA_TEST_S3_PID=$(cat "$dir/moto.pid")"
    } >> "$dir/env"
    fi
    cat "$dir/env"
    ;;
  stop)
    dir=${2:?stop DIR}
    if [ -f "$dir/moto.pid" ]; then
      pid=$(cat "$dir/moto.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/moto.pid"
    fi
    if [ -f "$dir/pg/postmaster.pid" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
