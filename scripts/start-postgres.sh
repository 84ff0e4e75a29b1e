#!/usr/bin/env bash
# Start the Debian-packaged PostgreSQL cluster (idempotent) and create the role `sigstack`
# (password `sigstack`, may create databases) that the PostgreSQL driver's tests use:
#   SIGSTACK_TEST_DATABASE_URL=postgres://sigstack:sigstack@127.0.0.1:5432/postgres
# Needs root (or the postgres user) and the `postgresql` apt package.
set -euo pipefail

cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
  echo "no PostgreSQL cluster found (apt-get install -y postgresql creates one)" >&2
  exit 1
fi
# shellcheck disable=SC2086
if ! pg_lsclusters --no-header | awk 'NR==1 {print $4}' | grep -q online; then
  pg_ctlcluster $cluster start
fi
as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$1"; else sh -c "$1"; fi
}
for _ in $(seq 1 30); do
  as_postgres "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
as_postgres "psql -qtAc \"select 1 from pg_roles where rolname = 'sigstack'\"" | grep -q 1 ||
  as_postgres "psql -qc \"create role sigstack login createdb password 'sigstack'\""
