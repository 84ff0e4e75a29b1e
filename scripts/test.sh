#!/usr/bin/env bash
# Runs every test: unit and service tests of the workspace, then the end-to-end tests that
# start the real `sigstack` binary and drive sigstore-python, sigstore-js, sigstore-rust, cosign
# and sigstore-go (and a real PostgreSQL and SoftHSM2 token where installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-clients.sh
# PostgreSQL for the PostgreSQL log driver's tests: start the packaged cluster (installed by
# .ci/run, or `apt-get install postgresql`), make a role that may create databases (each test
# run creates its own), and point the tests at it.
if [ -z "${SIGSTACK_TEST_DATABASE_URL:-}" ] && command -v pg_lsclusters >/dev/null; then
  scripts/start-postgres.sh
  export SIGSTACK_TEST_DATABASE_URL=postgres://sigstack:sigstack@127.0.0.1:5432/postgres
fi
cargo build --quiet -p sigstack
cargo test --workspace --no-fail-fast "$@"
