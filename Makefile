# Thin front door over CMake/CTest. Every target installs what it needs first
# (scripts/deps.sh is idempotent and quick when nothing is missing).
BUILD ?= build
JOBS ?= $(shell nproc)
STORE ?= rocksdb:./data

.PHONY: all deps build run test bench clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/orbit --store $(STORE) demo

test: deps
	@bash scripts/test.sh

bench: build
	@bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan
