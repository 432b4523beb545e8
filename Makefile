# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here serves them.

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTHON     ?= /usr/bin/python3
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:4566
DATA_DIR   ?= ./.sluice

.PHONY: all deps build build-asan run test unit unit-asan integration bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/sluice serve --listen $(LISTEN) --data-dir $(DATA_DIR)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

# Integration tests drive a real `sluice serve` (the sanitizer build, so
# that memory errors and leaks at shutdown fail the run) with boto3 and the
# aws CLI from Debian.
integration: build build-asan
	SLUICE_BIN=$(CURDIR)/$(ASAN_BUILD)/sluice $(PYTHON) -m pytest -q tests/integration

test: unit unit-asan integration

bench: build
	$(MAKE) -C bench/s3 BUILD=$(CURDIR)/$(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
