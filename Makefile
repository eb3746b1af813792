# SPDX-License-Identifier: LGPL-2.1-or-later
# A thin wrapper over meson so the habits have memorable names.
BUILD ?= build
MESON ?= meson

.PHONY: all check unit integration asan valgrind analyze fuzz fuzz-build fuzz-long torture format-check lint demo bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

# The whole test suite: unit tests, then the numbered integration tests.
check: all
	tests/run.sh $(BUILD)

unit: all
	SP_ONLY=unit tests/run.sh $(BUILD)

integration: all
	SP_ONLY=integration tests/run.sh $(BUILD)

# The suite again on an address+undefined-sanitizer build.
asan:
	$(MESON) setup build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1 || true
	ninja -C build-asan
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 tests/run.sh build-asan

valgrind: all
	SP_VALGRIND=1 SP_ONLY=unit tests/run.sh $(BUILD)

# libFuzzer targets, each run FUZZ_SECONDS on top of the stored corpus.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = manifest index domain_xml writer_config vss_writers schedule \
	extent_cursor
fuzz: fuzz-build
	for f in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus-$$f && \
		build-fuzz/tests/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) \
			build-fuzz/corpus-$$f tests/fuzz/corpus/$$f || exit 1; \
	done

# Long campaigns with random seeds (tests/torture/run.sh prints each seed
# and how to replay it); not part of `make check`.
torture: all
	tests/torture/run.sh $(BUILD)

fuzz-build:
	CC=clang $(MESON) setup build-fuzz -Dfuzz=true -Dc_args=-fsanitize=fuzzer-no-link -Db_sanitize=address,undefined -Db_lundef=false >/dev/null 2>&1 || true
	ninja -C build-fuzz

# Every target for FUZZ_RUNS executions (ten million by default); prints
# the table bench/README.md records.
FUZZ_RUNS ?= 10000000
fuzz-long: fuzz-build
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TARGETS="$(FUZZ_TARGETS)" tools/fuzz-long.sh

# gcc's static analyzer; findings are printed, not fatal (gcc 12 reports
# false positives around cleanup attributes).
analyze:
	CC=gcc $(MESON) setup build-analyze -Dc_args=-fanalyzer -Dwerror=false >/dev/null 2>&1 || true
	ninja -C build-analyze 2>&1 | grep -A3 -E 'warning:' || echo 'analyzer: no findings'

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

lint:
	tools/check-layering.sh

# Set up a default vault, back up a real disk image and list the point.
demo: all
	tools/demo.sh $(BUILD)/stillpoint

bench: all
	bench/run.sh

clean:
	rm -rf $(BUILD) build-asan build-analyze build-fuzz
