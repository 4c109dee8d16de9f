# The one command that runs every check and test: `make test`.
# Tools beyond Rust (buf, grpcurl) are installed by scripts/install-test-tools.sh.

GOBIN_DIR := $(shell go env GOPATH 2>/dev/null)/bin
export GRPCURL ?= $(GOBIN_DIR)/grpcurl
BUF := .bin-npm/node_modules/.bin/buf

.PHONY: test tools lint fmt-check clippy buf-lint buf-breaking cargo-test bench-smoke openapi-fuzz run chaos

test: tools lint cargo-test bench-smoke openapi-fuzz

tools:
	scripts/install-test-tools.sh

lint: fmt-check clippy buf-lint buf-breaking

fmt-check:
	cargo fmt --all -- --check

# Twice: the release build (no test-only code) and the test build (failpoints on).
clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features konsul/failpoints -- -D warnings

buf-lint:
	$(BUF) lint

# The protobuf API against the previous commit's (scripts/buf-breaking.sh).
buf-breaking:
	BUF=$(BUF) scripts/buf-breaking.sh

# The fault tests need the test-only fault control (failpoints, /debug/faults) compiled in.
cargo-test:
	cargo test --workspace --features konsul/failpoints

# The benchmark scripts still run end to end (both servers, a second per case, debug
# binaries: a check that they work, not a measurement; docs/benchmarks.md has those).
BENCH_SMOKE := BENCH_BUILD=0 BENCH_BIN_DIR=target/debug BENCH_DURATION=1s BENCH_WARMUP=0s \
	BENCH_CLIENTS=1 BENCH_KEY_SPACE=50 BENCH_OUT_DIR=target/bench/smoke
bench-smoke:
	cargo build --workspace --bins --features konsul/failpoints
	$(BENCH_SMOKE) BENCH_OPS="put get" scripts/bench.sh
	$(BENCH_SMOKE) BENCH_OPS="put heartbeat" scripts/bench-cluster.sh

# /openapi.json tells the truth: schemathesis over every operation of a standalone node
# (the debug binary bench-smoke built), seed 1, no failure allowed (scripts/openapi-fuzz.sh).
openapi-fuzz:
	scripts/openapi-fuzz.sh

run:
	cargo run --release --bin konsul

# The long fault run: make chaos ROUNDS=200 SEED=42 (see scripts/chaos.sh).
chaos:
	scripts/chaos.sh --rounds $(or $(ROUNDS),200) $(if $(SEED),--seed $(SEED))
