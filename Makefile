# Two entry points for people: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
CARGO ?= cargo
CARGO_FLAGS := $(if $(CI),--locked,)
APPS_DIR := tests/apps
# A CI run builds once, from a clean clone: incremental state would only take disk.
ifdef CI
export CARGO_INCREMENTAL := 0
endif

.PHONY: setup apps build lint test demo conformance bench bench-compare bench-density bench-churn fuzz clean

setup:
	@scripts/setup.sh

# The test apps: real Spin components built from source with spin-sdk.
apps: setup
	cd $(APPS_DIR) && $(CARGO) build $(CARGO_FLAGS) --release --target wasm32-wasip2
	cd $(APPS_DIR) && $(CARGO) build $(CARGO_FLAGS) --release --target wasm32-wasip1

build: setup
	$(CARGO) build $(CARGO_FLAGS) --workspace --bins

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings

test: apps build lint
	$(CARGO) test $(CARGO_FLAGS) --workspace

demo: apps build
	scripts/demo.sh

# Spin's runtime conformance suite from any folder holding a packaged copy (make test runs the
# copy kept in tests/spin-conformance): make conformance SUITE=DIR
conformance: build
	@test -n "$(SUITE)" || { echo "usage: make conformance SUITE=DIR"; exit 2; }
	SPIN_CONFORMANCE_SUITE="$(abspath $(SUITE))" \
	  $(CARGO) test $(CARGO_FLAGS) -p spinrt-tests --test conformance -- --nocapture

# criterion benches (compile vs cache, instantiate, one request, process cold start); the
# binaries they start are release builds. Not part of `make test`.
bench: apps
	$(CARGO) build $(CARGO_FLAGS) --release --workspace --bins
	$(CARGO) bench $(CARGO_FLAGS) -p spinrt-benches --bench engine --bench cold_start

# One table against the alternatives, measured in one run; writes benches/RESULTS.md.
# Benchmarks run what they start as a node would: a developer's RUST_BACKTRACE makes every error
# value (wasmtime makes some per request) capture a stack trace, which cost 15-25 % of the
# throughput of `spinrt up` and `wasmtime serve` alike.
BENCH_ENV := env RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0
WASMTIME_CLI := .tools/wasmtime-cli-48.0.8/bin/wasmtime
$(WASMTIME_CLI):
	$(CARGO) install wasmtime-cli --version 48.0.8 --locked --root .tools/wasmtime-cli-48.0.8

bench-compare: apps $(WASMTIME_CLI)
	$(CARGO) build $(CARGO_FLAGS) --release --workspace --bins
	$(BENCH_ENV) $(CARGO) bench $(CARGO_FLAGS) -p spinrt-benches --bench compare

# Pods through CRI as kubelet starts them: our Spin pods against runc pods, in one run
# (DENSITY_PODS=200, DENSITY_PARALLEL=8, DENSITY_DEADLINE_SECS=900); writes its section of
# benches/RESULTS.md. Release builds, like a node runs.
bench-density: apps
	$(CARGO) build $(CARGO_FLAGS) --release --workspace --bins
	$(BENCH_ENV) $(CARGO) bench $(CARGO_FLAGS) -p spinrt-benches --bench density

# Pod churn through CRI, as CronJobs cause it: CHURN_CYCLES=2000 create/start/stop/remove
# cycles, CHURN_PARALLEL=8 at a time, every CHURN_BAD_EVERY=5th app failing to start, bounded by
# CHURN_DEADLINE_SECS=900; then what the node kept. Writes its section of benches/RESULTS.md.
bench-churn: apps
	$(CARGO) build $(CARGO_FLAGS) --release --workspace --bins
	$(BENCH_ENV) $(CARGO) bench $(CARGO_FLAGS) -p spinrt-benches --bench churn

# cargo fuzz on the parsers of untrusted input (fuzz/fuzz_targets), FUZZ_SECONDS per target
# (default 300), one after the other, from the checked-in seed corpus in fuzz/corpus; what a
# run finds goes to fuzz/corpus-run (not checked in), where the next run starts from. Not part
# of `make test`: it needs a nightly toolchain (pinned, so a run does not rebuild everything
# when nightly moves), which this installs through rustup, and cargo-fuzz, installed into
# .tools. No sanitizer: the code under test is safe Rust, where a crash is a panic, which
# libFuzzer catches without one, and the build takes minutes instead of half an hour. A crash
# stops the run and leaves its input in fuzz/artifacts.
FUZZ_SECONDS ?= 300
FUZZ_TOOLCHAIN := nightly-2026-10-29
FUZZ_TARGETS := manifest locked_app oci_read routes outbound_hosts runtime_config
CARGO_FUZZ := .tools/cargo-fuzz/bin/cargo-fuzz
$(CARGO_FUZZ):
	$(CARGO) install cargo-fuzz --version 0.13.2 --locked --root .tools/cargo-fuzz

fuzz: setup $(CARGO_FUZZ)
	rustup toolchain install $(FUZZ_TOOLCHAIN) --profile minimal
	cd fuzz && export PATH="$(abspath .tools/cargo-fuzz/bin):$$PATH" && \
	for target in $(FUZZ_TARGETS); do \
	  mkdir -p corpus-run/$$target && \
	  cargo +$(FUZZ_TOOLCHAIN) fuzz run -O -s none $$target corpus-run/$$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1 || exit 1; \
	done

clean:
	$(CARGO) clean
	cd $(APPS_DIR) && $(CARGO) clean
