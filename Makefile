# The one command that runs every check and test: `make test`.
# Tools beyond Rust (buf, grpcurl) are installed by scripts/install-test-tools.sh.

GOBIN_DIR := $(shell go env GOPATH 2>/dev/null)/bin
export GRPCURL ?= $(GOBIN_DIR)/grpcurl
BUF := .bin-npm/node_modules/.bin/buf

.PHONY: test tools lint fmt-check clippy buf-lint cargo-test run

test: tools lint cargo-test

tools:
	scripts/install-test-tools.sh

lint: fmt-check clippy buf-lint

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

buf-lint:
	$(BUF) lint

cargo-test:
	cargo test --workspace

run:
	cargo run --release --bin konsul
