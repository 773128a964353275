# claimcheck — the project's entry points. Run `make help` for the list.
# Settings of the local servers live in .local/env (written by `make up`); targets read it.
SHELL := /bin/bash
, := ,
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
BIN := $(BUILD_DIR)/apps/claimcheck/claimcheck
ENV_FILE := $(or $(CLAIMCHECK_LOCAL_DIR),.local)/env
# Nested makes (cmake's generated Makefiles) do not print "Entering directory" lines.
MAKEFLAGS += --no-print-directory
# Load .local/env (if present) into the environment of every recipe.
LOAD_ENV = set -a; [ -f $(ENV_FILE) ] && . $(abspath $(ENV_FILE)); set +a;
# $(call LOAD_PARTY_ENV,PARTY): only PARTY's settings (.local/env.PARTY, written by `make up`; DESIGN.md §9),
# with every S3 key and secret file of the caller's environment dropped first; without that file, .local/env.
PARTY_FILE = $(abspath $(or $(CLAIMCHECK_LOCAL_DIR),.local)/env.$(1))
LOAD_PARTY_ENV = if [ -f $(call PARTY_FILE,$(1)) ]; then \
	  unset S3_ACCESS_KEY S3_SECRET_KEY S3_SECRET_KEY_FILE MINIO_ACCESS_KEY MINIO_SECRET_KEY AMQP_PASSWORD_FILE; \
	  set -a; . $(call PARTY_FILE,$(1)); set +a; \
	else echo "make: no $(call PARTY_FILE,$(1)): running as the administrator of $(ENV_FILE)" >&2; $(LOAD_ENV) fi;

.PHONY: help bootstrap build cli test test-unit test-asan test-tsan fuzz up down ps logs clean demo producer consumer \
	coordinator status bench package install

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

bootstrap: ## Install the Debian 12 packages needed (root or sudo)
	@bash scripts/bootstrap

build: ## Configure and build everything (CMake, $(BUILD_DIR)/)
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

cli: ## Build only the claimcheck binary (what producer/consumer/coordinator/status need)
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@set -o pipefail; cmake --build $(BUILD_DIR) -j $(JOBS) --target claimcheck \
	  | { grep -vE '^\[ *[0-9]+%\] (Built target|Building|Linking)' || true; }

# The .deb (cmake/Package.cmake): the CLI in /usr/bin, systemd units, example env files in /etc/claimcheck.
package: cli ## Build build/claimcheck_<version>_amd64.deb (CPack; binary, systemd units, /etc/claimcheck)
	@cd $(BUILD_DIR) && cpack --config CPackConfig.cmake

# The library for embedding (cmake/Install.cmake): headers, static libraries, find_package(claimcheck CONFIG),
# claimcheck.pc and the CLI under PREFIX (default /usr/local); `make install PREFIX=/opt/claimcheck`.
PREFIX ?= /usr/local
install: cli ## Install headers, static libraries, CMake package, claimcheck.pc and the CLI [PREFIX=/usr/local]
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# make test also starts PostgreSQL (the refstore tests need it; `make test PG=0` skips it) and the TLS listeners
# (e2e_tls_flow, e2e_secrets need them): it runs `make up PG=1 TLS=1`.
test: export PG := 1
test: export TLS := 1
test: bootstrap build up ## Build, start the local servers, run every test (unit, integration, e2e)
	@$(LOAD_ENV) cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900 $(CTEST_ARGS)

test-unit: build ## Run only the unit tests (no servers needed)
	@cd $(BUILD_DIR) && ctest --output-on-failure -L unit $(CTEST_ARGS)

# Sanitizer runs (issue 12 item 4): everything built with gcc and ASan + UBSan (build-asan/) or ThreadSanitizer
# (build-tsan/), then the unit and integration tests against the running local servers (`make up PG=1`
# first; CI runs them after `make test`). SAN_LABELS='unit|integration|e2e' adds the e2e tests. Not run:
# deploy_package and integration_embed, which test packaging (cpack/dpkg, an installed CMake package) with
# a sanitizer-linked build they cannot represent. Findings abort the test (halt_on_error); suppressions for
# third-party code only, in tests/sanitizers/ (each with its reason).
SAN_LABELS ?= unit|integration
SAN_EXCLUDE := ^(deploy_package|integration_embed)$$
SAN_SUPP := $(abspath tests/sanitizers)
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	LSAN_OPTIONS=suppressions=$(SAN_SUPP)/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(SAN_SUPP)/tsan.supp
# $(call SAN_TEST,build dir,sanitizers,runtime env)
define SAN_TEST
	@cmake -S . -B $(1) -DCLAIMCHECK_SANITIZE=$(2) -DCLAIMCHECK_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(1) -j $(JOBS)
	@$(LOAD_ENV) export $(3); cd $(1) && start=$$(date +%s) && \
	  ctest --output-on-failure --timeout 900 -L '$(SAN_LABELS)' -E '$(SAN_EXCLUDE)' $(CTEST_ARGS); rc=$$?; \
	  echo "$(1): ctest -L '$(SAN_LABELS)' exit $$rc in $$(( $$(date +%s) - start ))s"; exit $$rc
endef

test-asan: ## Build with ASan+UBSan (build-asan/) and run unit+integration tests on the running servers [SAN_LABELS=...]
	$(call SAN_TEST,build-asan,address$(,)undefined,$(ASAN_ENV))

test-tsan: ## Build with ThreadSanitizer (build-tsan/) and run unit+integration tests on the running servers
	$(call SAN_TEST,build-tsan,thread,$(TSAN_ENV))

# libFuzzer targets (tests/fuzz/, issue 12 item 3), built with clang in build-fuzz/: each runs FUZZ_SECONDS
# (default 60) on its seed corpus; FUZZ_RUNS=N stops each after N executions, FUZZ_TARGETS=a,b picks some.
FUZZ_SECONDS ?= 60
fuzz: ## Build the libFuzzer targets (clang) and run each for FUZZ_SECONDS; prints execs, exec/s, coverage
	@bash scripts/fuzz --seconds $(FUZZ_SECONDS) $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS)) \
	  $(if $(FUZZ_TARGETS),--targets $(FUZZ_TARGETS))

up: ## Start Ceph RGW + RabbitMQ (and PostgreSQL with PG=1, TLS listeners with TLS=1) under .local/, write .local/env
	@bash scripts/infra up

down: ## Stop the local servers, keep their data
	@bash scripts/infra down

ps: ## Show the local servers: pids, ports, health
	@bash scripts/infra ps

logs: ## Tail the local servers' logs
	@bash scripts/infra logs

clean: ## Stop the local servers and remove their data (.local/)
	@bash scripts/infra clean

demo: ## The main job end to end: bootstrap, build, servers, coordinator + 3 recipients, real files [DEMO_DIR=...]
	@bash scripts/demo

# Pointer flow, mirroring the reference demo: make producer MSG_SIZE=1MB COUNT=5 VERIFY=1 [DELETE=1]
# [RECIPIENTS=a,b,c] [CODEC=zstd]; make consumer [RECIPIENT=branch1] [OUT_DIR=...].
# Each runs as its own party (.local/env.producer, .local/env.<recipient>). DELETE=1 (a storage round trip
# that deletes what it put) runs as the administrator: the producer's keys may not delete.
MSG_SIZE ?= 1MB
COUNT ?= 5
producer: cli ## Send COUNT synthetic payloads of MSG_SIZE as the producer [VERIFY=1 DELETE=1 RECIPIENTS=a,b CODEC=zstd]
	@$(if $(filter 1,$(DELETE)),$(LOAD_ENV),$(call LOAD_PARTY_ENV,producer)) \
	  $(BIN) produce --msg-size $(MSG_SIZE) --count $(COUNT) \
	  $(if $(filter 1,$(VERIFY)),--verify) $(if $(filter 1,$(DELETE)),--delete) \
	  $(if $(RECIPIENTS),--recipients $(RECIPIENTS)) $(if $(CODEC),--codec $(CODEC))

# A recipient holds no S3 keys: it downloads through the pointers' presigned urls. With a binary that has no
# presigned urls yet (no `produce --no-presign`) it also loads .local/env.s3-reader (`scripts/infra s3-reader`).
RECIPIENT_ID = $(or $(RECIPIENT),$(CONSUMER_ID),branch1)
consumer: cli ## Consume one recipient's queue as that recipient [RECIPIENT=branch1 OUT_DIR=dir]
	@$(call LOAD_PARTY_ENV,$(RECIPIENT_ID)) \
	  if ! grep -q -- --no-presign <<<"$$($(BIN) produce --help)" && [ -f $(call PARTY_FILE,s3-reader) ]; then \
	    set -a; . $(call PARTY_FILE,s3-reader); set +a; fi; \
	  trust=(); if [ -n "$${CLAIMCHECK_ALLOWED_PRODUCERS:-}" ] && grep -q -- --allowed-producers <<<"$$($(BIN) consume --help)"; then \
	    trust=(--allowed-producers "$$CLAIMCHECK_ALLOWED_PRODUCERS"); fi; \
	  $(BIN) consume --recipient $(RECIPIENT_ID) "$${trust[@]}" $(if $(OUT_DIR),--out-dir $(OUT_DIR))

# Coordinator: make coordinator [DB=sqlite:PATH|postgresql://...] [ONCE=1] [HTTP_ADDR=127.0.0.1:9464]
# (status page at /, /api/status, /metrics; METRICS_ADDR is the former name)
# [ARGS="--batch-size 1000 ..."]; make status [POINTER_ID=uuid] [JSON=1].
# It runs as the coordinator party and believes store records only from CLAIMCHECK_PRODUCER_USERS and each
# recipient's acks only from its user in CLAIMCHECK_RECIPIENT_USERS (.local/env.coordinator; DESIGN.md §9).
# Without per-party settings every party is the administrator of .local/env, and so is the mapping.
coordinator: cli ## Run the coordinator (refcount + deletes) [DB=... ONCE=1 HTTP_ADDR=host:port ARGS=...]
	@$(call LOAD_PARTY_ENV,coordinator) \
	  u=$$(printf '%s' "$${AMQP_URL%%,*}" | sed -E 's#^amqps?://([^:@/]*)[:@].*#\1#'); \
	  $(BIN) coordinator --producer-users "$${CLAIMCHECK_PRODUCER_USERS:-$$u}" --recipient-users "$${CLAIMCHECK_RECIPIENT_USERS:-*=$$u}" \
	  $(if $(DB),--db $(DB)) $(if $(filter 1,$(ONCE)),--once) \
	  $(if $(or $(HTTP_ADDR),$(METRICS_ADDR)),--http-addr $(or $(HTTP_ADDR),$(METRICS_ADDR))) $(ARGS)

status: cli ## Show refcount state: counts per state, or one object [POINTER_ID=uuid JSON=1 DB=...]
	@$(LOAD_ENV) $(BIN) status $(POINTER_ID) $(if $(filter 1,$(JSON)),--json) $(if $(DB),--db $(DB))

bench: build up ## Run the benchmarks against the local servers: side-by-side table vs baselines [QUICK=1] (bench/results/)
	@bash scripts/bench $(if $(filter 1,$(QUICK)),--quick)
