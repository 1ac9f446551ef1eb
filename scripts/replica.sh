#!/usr/bin/env bash
# A streaming replica of the local PostgreSQL cluster (127.0.0.1:5432), for the read-replica tests and benchmarks:
# a second cluster on REPLICA_PORT (5433), made with pg_basebackup and kept in step by streaming replication.
#   scripts/replica.sh          # start it (made on first use; nothing happens when it already answers)
#   scripts/replica.sh stop     # stop it
#   scripts/replica.sh remove   # stop it and delete its files
# Runs as root (the cluster runs as the postgres user) or as postgres. The primary must accept replication
# connections from 127.0.0.1: a line for them is added to its pg_hba.conf (and the configuration reloaded) when
# it has none.
set -euo pipefail
port=${REPLICA_PORT:-5433}
version=$(ls /etc/postgresql | sort -V | tail -1)
bin=/usr/lib/postgresql/$version/bin
dir=${REPLICA_DIR:-/var/lib/postgresql/$version/replica}
as_postgres() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
ready() { pg_isready -h 127.0.0.1 -p "$port" -q 2>/dev/null; }

case ${1:-start} in
  stop)
    [ -f "$dir/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop
    exit 0 ;;
  remove)
    [ -f "$dir/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop
    rm -rf "$dir"
    exit 0 ;;
  start) ;;
  *) echo "usage: $0 [start|stop|remove]" >&2; exit 2 ;;
esac

ready && exit 0
# Tests may ask for it from several processes at once: one makes it, the others wait.
exec 9> /tmp/dvc-gateway-replica.lock
flock 9
ready && exit 0

hba=$(psql -h 127.0.0.1 -p 5432 -U postgres -Atqc "SHOW hba_file")
if ! grep -Eq '^host\s+replication\s+all\s+127\.0\.0\.1/32' "$hba"; then
  echo "host replication all 127.0.0.1/32 trust" >> "$hba"
  psql -h 127.0.0.1 -p 5432 -U postgres -Atqc "SELECT pg_reload_conf()" > /dev/null
fi

if [ ! -f "$dir/standby.signal" ]; then
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ "$(id -un)" = postgres ] || chown postgres:postgres "$dir"
  as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p 5432 -U postgres -D "$dir" -R -X stream -c fast
  # Debian keeps a cluster's configuration outside its data directory: the replica gets its own.
  as_postgres tee "$dir/postgresql.conf" > /dev/null <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 30s
shared_buffers = 128MB
max_connections = 200
logging_collector = off
CONF
  as_postgres tee "$dir/pg_hba.conf" > /dev/null <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
fi
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql 2>/dev/null || true
as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start > /dev/null
for _ in $(seq 1 60); do ready && break; sleep 0.5; done
ready || { echo "the replica on port $port did not start (see $dir/server.log)" >&2; exit 1; }
