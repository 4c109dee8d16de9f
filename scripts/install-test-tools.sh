#!/usr/bin/env bash
# Installs the tools the test suite needs beyond Rust, idempotently, into the repo's own
# .bin-npm/ (buf, from the npm package @bufbuild/buf), .bin-py/ (schemathesis, from PyPI,
# for scripts/openapi-fuzz.sh) and Go's bin dir (grpcurl, from the Go module proxy), and
# etcd (Debian's etcd-server) for the benchmark scripts' smoke run.
# `make test` and .ci/run call this, so a fresh machine needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=1.75.0
GRPCURL_VERSION=v1.9.4
SCHEMATHESIS_VERSION=4.32.5

if [ ! -x .bin-npm/node_modules/.bin/buf ] || ! .bin-npm/node_modules/.bin/buf --version 2>/dev/null | grep -qx "$BUF_VERSION"; then
  echo "installing buf $BUF_VERSION (npm @bufbuild/buf)"
  npm install --silent --no-audit --no-fund --prefix .bin-npm "@bufbuild/buf@$BUF_VERSION" >/dev/null
fi

if [ ! -x .bin-py/bin/schemathesis ] || ! .bin-py/bin/schemathesis --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION (PyPI, in .bin-py/)"
  python3 -m venv .bin-py
  .bin-py/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

GOBIN_DIR="$(go env GOPATH)/bin"
if ! "$GOBIN_DIR/grpcurl" -version >/dev/null 2>&1; then
  echo "installing grpcurl $GRPCURL_VERSION (go install)"
  go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
fi

if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  echo "installing etcd (Debian etcd-server)"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  # The package may start a system etcd on the default ports; the scripts start their own.
  $SUDO systemctl stop etcd >/dev/null 2>&1 || $SUDO service etcd stop >/dev/null 2>&1 || true
fi
