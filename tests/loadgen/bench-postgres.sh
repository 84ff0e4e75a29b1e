#!/usr/bin/env bash
# Runs the PostgreSQL rows of BENCHMARKS.md ("Rekor v1 and v2 on PostgreSQL over HTTP"): creates a
# fresh database, starts `sigstack up --database-url` on it (ports 17700-17705, loopback), runs
# the load generator against Rekor v1 (closed loop, then 2,000/s) and Rekor v2 (closed loop),
# prints the database size, and stops the stack. The database is left for inspection; drop it
# with `dropdb` (older bench databases being vacuumed in the background skew later runs).
#
#   cargo build --release -p sigstack -p sigstack-loadgen
#   scripts/start-postgres.sh
#   tests/loadgen/bench-postgres.sh [DATA_DIR]     # default /tmp/sigstack-bench-pg (deleted first)
#
# PGADMIN runs psql as the database superuser (default: `su postgres -c`, for root on Debian);
# DATABASE_BASE is the server's URL without a database name; CONNS (default 256) is the number
# of connections of the closed-loop phases.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=target/release
D=${1:-/tmp/sigstack-bench-pg}
CONNS=${CONNS:-256}
BASE=${DATABASE_BASE:-postgres://sigstack:sigstack@127.0.0.1:5432}
DB=bench$(date +%s)
psql_admin() { if [ -n "${PGADMIN:-}" ]; then $PGADMIN "$1"; else su postgres -c "psql -qtAc \"$1\""; fi; }
psql_admin "create database $DB owner sigstack"
NICE_CMD=()
. tests/loadgen/stack.sh
start_stack "$D" --database-url "$BASE/$DB"
LG="$BIN/sigstack-loadgen"
ID=(--fulcio-url http://127.0.0.1:17700 --server-pid "$PID" --no-calibrate)
echo "== database $DB; Rekor v1, closed loop, $CONNS connections"
"$LG" write --url http://127.0.0.1:17702 --api v1 "${ID[@]}" --connections "$CONNS" --count 100000 --duration 15
echo "== Rekor v1, open loop, 2000/s"
"$LG" write --url http://127.0.0.1:17702 --api v1 "${ID[@]}" --rate 2000 --count 40000 --duration 15
echo "== Rekor v2, closed loop, $CONNS connections"
"$LG" write --url http://127.0.0.1:17703 --api v2 "${ID[@]}" --connections "$CONNS" --count 100000 --duration 15
echo "== database size: $(psql_admin "select pg_size_pretty(pg_database_size('$DB'))")"
