# Thin front door over CMake/CTest. Every target installs what it needs first
# (scripts/deps.sh is idempotent and quick when nothing is missing).
BUILD ?= build
JOBS ?= $(shell nproc)
# The store of `make run`: STORE=..., else $ORBIT_STORE, else rocksdb:./data.
STORE ?= $(or $(ORBIT_STORE),rocksdb:./data)
# `make install` installs build/ into PREFIX (CMake's default: /usr/local).
PREFIX ?=

.PHONY: all deps build run test bench install clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Builds only orbitd (and liborbit), quietly: the build's output is shown
# only if it fails. Then orbitd's own output, nothing else.
run:
	@bash scripts/deps.sh >/dev/null
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target orbitd >$(BUILD)/run-build.log 2>&1 || \
		{ cat $(BUILD)/run-build.log >&2; exit 1; }
	@exec ./$(BUILD)/orbitd --store '$(STORE)'

test: deps
	@bash scripts/test.sh

bench: build
	@bash bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD) build-asan build-tsan build-release build-minimal build-fuzz
	rm -f build*.build.log
