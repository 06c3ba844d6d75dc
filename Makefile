# Two entry points for people: `make demo` and `make test`. Both install what they need first.
SHELL := /bin/bash
CARGO ?= cargo
CARGO_FLAGS := $(if $(CI),--locked,)
APPS_DIR := tests/apps

.PHONY: setup apps build lint test demo clean

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

clean:
	$(CARGO) clean
	cd $(APPS_DIR) && $(CARGO) clean
