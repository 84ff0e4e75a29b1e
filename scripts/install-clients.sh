#!/usr/bin/env bash
# Installs the real Sigstore clients the end-to-end tests drive:
#   sigstore-python 4.5.1 and python-tuf 7.0.1 -> .tools/venv
#   sigstore-js 5 + @sigstore/cli 0.10.3 -> tests/clients/js/node_modules (from package-lock.json)
#   sigstore-rust 0.15.1 test client -> tests/rust-client/target/release/sigstack-rust-client
# Idempotent: re-running skips what is already installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ ! -x .tools/venv/bin/sigstore ] || ! .tools/venv/bin/sigstore --version 2>/dev/null | grep -q '4.5.1'; then
  echo "==> installing sigstore-python 4.5.1"
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet 'sigstore==4.5.1'
fi

# python-tuf's ngclient: an independent TUF client for the repository tests (also what
# sigstore-python 4.5.1 uses underneath; pinned so both stay on the same version).
if ! .tools/venv/bin/python -c 'import tuf, sys; sys.exit(tuf.__version__ != "7.0.1")' 2>/dev/null; then
  echo "==> installing python-tuf 7.0.1"
  .tools/venv/bin/pip install --quiet 'tuf==7.0.1'
fi

if [ ! -d tests/clients/js/node_modules/@sigstore/verify ]; then
  echo "==> installing sigstore-js"
  (cd tests/clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "==> building the sigstore-rust test client"
cargo build --quiet --release --manifest-path tests/rust-client/Cargo.toml
