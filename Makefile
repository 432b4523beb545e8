# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here serves them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
FUZZ_SECONDS ?= 3
FUZZERS    := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c)))
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:4566
DATA_DIR   ?= ./.sluice

.PHONY: all deps build build-asan build-release run test unit unit-asan integration fuzz bench clean

all: build

deps:
	@scripts/install-deps.sh

# The project's own builds treat warnings as errors (SLUICE_WERROR); a
# packager's plain cmake does not.
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON >/dev/null

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_WERROR=ON >/dev/null

# A packager's Release build (-O3, where GCC warns of more): it must build
# without a warning too.
$(RELEASE_BUILD)/CMakeCache.txt:
	cmake -S . -B $(RELEASE_BUILD) -DCMAKE_BUILD_TYPE=Release -DSLUICE_WERROR=ON >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

build-release: deps $(RELEASE_BUILD)/CMakeCache.txt
	cmake --build $(RELEASE_BUILD) -j $(JOBS)

run: build
	$(BUILD)/sluice serve --listen $(LISTEN) --data-dir $(DATA_DIR)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# Integration tests drive a real `sluice serve` (the sanitizer build, so
# that memory errors and leaks at shutdown fail the run) with boto3 and the
# aws CLI from Debian; the cgroup v2 ones, in a User-mode Linux guest where
# ASan cannot run, the plain build.
integration: build build-asan
	SLUICE_BIN=$(CURDIR)/$(ASAN_BUILD)/sluice SLUICE_PLAIN_BIN=$(CURDIR)/$(BUILD)/sluice \
	  $(PYTHON) -m pytest -q -rs --durations=15 tests/integration

# Each fuzz target runs its seed corpus and then FUZZ_SECONDS of new inputs
# (make fuzz FUZZ_SECONDS=600 for a real session).
$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSLUICE_FUZZ=ON -DSLUICE_WERROR=ON >/dev/null

fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
	  corpus=tests/fuzz/corpus/$${f#fuzz_}; work=$(FUZZ_BUILD)/corpus/$${f#fuzz_}; \
	  mkdir -p $$work; \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	    -artifact_prefix=$(FUZZ_BUILD)/ $$work $$corpus 2>$(FUZZ_BUILD)/$$f.log \
	    || { tail -50 $(FUZZ_BUILD)/$$f.log; exit 1; }; \
	done

test: unit unit-asan build-release fuzz integration

# Benchmarks, run by hand: S3, Lambda invokes, events, SQS, Kinesis
# streams, DynamoDB, then event routing (bench/README.md).
bench: build
	$(MAKE) -C bench/s3 BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/invoke BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/events BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/sqs BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/streams BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/dynamodb BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/routing BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/states BUILD=$(CURDIR)/$(BUILD)
	$(MAKE) -C bench/formats BUILD=$(CURDIR)/$(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)
