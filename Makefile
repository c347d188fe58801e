# HiLite's commands. `make demo` and `make test` are the quick start; `make help` lists all.
# Everything respects CARGO_TARGET_DIR, so CI can keep its build cache outside the checkout.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# Lambda architecture for `make build`, as in infra/template.yaml: arm64 or x86_64.
ARCH ?= arm64
FUNCTIONS := webhook download analyze edit publish

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
VENV := $(CURDIR)/.venv
# The contract suite's AWS side runs against this moto_server (installed by `make setup`).
export MOTO_SERVER := $(VENV)/bin/moto_server
# cargo-lambda and its zig live in the project's venv.
export PATH := $(VENV)/bin:$(PATH)

ifeq ($(ARCH),arm64)
LAMBDA_ARCH := --arm64
else ifeq ($(ARCH),x86_64)
LAMBDA_ARCH := --x86-64
else
$(error ARCH must be arm64 or x86_64, not "$(ARCH)")
endif

.PHONY: help setup test lint lint-rust lint-infra demo run bench build watch

help: ## List the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  make \1\t\2/' | expand -t 24

setup: ## Install what this machine lacks (apt packages as root, a Python venv); quick when done
	@scripts/setup.sh

test: setup lint ## Format check, clippy -D warnings, cfn-lint and checkov, every test of the workspace
	$(CARGO) test --workspace

lint: lint-rust lint-infra ## All linters

lint-rust: ## rustfmt check and clippy
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cfn-lint: zero errors and warnings. checkov: no failed check; each suppression is a
# `checkov: skip` entry with its reason in the resource's Metadata. --skip-download keeps it offline.
lint-infra: setup ## cfn-lint and checkov on infra/template.yaml
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml

demo: setup ## Run HiLite on this machine in ./demo-data and show what it does
	@scripts/demo.sh

run: ## Run `hilite serve` with ./hilite.toml (see `hilite init`)
	$(CARGO) run -p hilite-cli -- serve

bench: ## Benchmarks (DESIGN.md section 6)
	$(CARGO) bench --workspace

build: setup ## Release zips of the five Lambda functions for ARCH (arm64 or x86_64)
	cargo lambda build --release --output-format zip $(LAMBDA_ARCH) \
		--lambda-dir $(TARGET_DIR)/lambda $(addprefix -p hilite-,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do \
		printf '%-10s %8s bytes  %s\n' $$f $$(stat -c %s $(TARGET_DIR)/lambda/$$f/bootstrap.zip) $(TARGET_DIR)/lambda/$$f/bootstrap.zip; \
	done

watch: setup ## Serve the functions locally for `make invoke-…` (cargo lambda watch)
	cargo lambda watch

# The function that reads each sample event's queue (download reads collect and download).
invoke_function = $(if $(filter sqs-collect sqs-download,$(1)),download,$(patsubst sqs-%,%,$(1)))

invoke-%: ## Send events/%.json to its function under `make watch`, e.g. make invoke-sqs-analyze
	cargo lambda invoke $(call invoke_function,$*) --data-file events/$*.json

# `make deploy` (AWS SAM) belongs with infra/.
