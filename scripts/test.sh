#!/usr/bin/env bash
# Runs every test: unit and service tests of the workspace, then the end-to-end tests that
# start the real `sigstack` binary and drive sigstore-python, sigstore-js and sigstore-rust.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-clients.sh
cargo build --quiet -p sigstack
cargo test --workspace --no-fail-fast "$@"
