#!/usr/bin/env bash
# Installs the real Sigstore clients the end-to-end tests drive:
#   sigstore-python 4.5.1 and python-tuf 7.0.1 -> .tools/venv
#   sigstore-js 5 + @sigstore/cli 0.10.3 -> tests/clients/js/node_modules (from package-lock.json)
#   sigstore-rust 0.15.1 test client -> tests/rust-client/target/release/sigstack-rust-client
#   cosign v3.1.2, crane v0.21.7 (OCI registry + image pushes) -> .tools/go/bin
#   sigstore-go v1.2.1 test client (tests/clients/go) -> .tools/go/bin/sigstack-go-client
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

# Go tools come from the Go module proxy by module name, at pinned versions. A Go older than a
# module's `go` line fetches the newer toolchain from the proxy (GOTOOLCHAIN=auto).
gobin="$root/.tools/go/bin"
mkdir -p "$gobin"
export GOFLAGS="-mod=mod -buildvcs=false"
if ! "$gobin/cosign" version 2>/dev/null | grep -q 'v3.1.2'; then
  echo "==> installing cosign v3.1.2"
  GOBIN="$gobin" go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.2
fi
if ! "$gobin/crane" version 2>/dev/null | grep -q 'v0.21.7'; then
  echo "==> installing crane v0.21.7"
  GOBIN="$gobin" go install github.com/google/go-containerregistry/cmd/crane@v0.21.7
fi
if [ ! -x "$gobin/sigstack-go-client" ] \
  || [ -n "$(find tests/clients/go -type f -newer "$gobin/sigstack-go-client")" ]; then
  echo "==> building the sigstore-go test client"
  (cd tests/clients/go && go build -o "$gobin/sigstack-go-client" .)
fi
