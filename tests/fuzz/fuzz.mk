# tests/fuzz/fuzz.mk: libFuzzer targets for the formula, `--where` and CSV parsers (included by the Makefile).
#   make fuzz                   build, then run each target for FUZZ_SECONDS (default 60) from its seed corpus
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS=expr
#   make fuzz-build             only build build/fuzz/fuzz_{expr,formula,csv}
# New inputs go to FUZZ_WORK (default $TMPDIR/gravrd-fuzz, outside the repository), crash inputs to
# tests/fuzz/crashes/ (git-ignored). Reproduce one with: ./build/fuzz/fuzz_expr tests/fuzz/crashes/expr-crash-...
# The parsers (src/expr.c, formula.c, csv.c) are compiled with clang, coverage and ASan+UBSan into
# build/fuzz/; the rest of gravrd is linked from the ordinary objects (build/*.o, made by gcc).
# Needs clang-14 and libclang-rt-14-dev (in DEB_PKGS).

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= expr formula csv
FUZZ_WORK    ?= $(or $(TMPDIR),/tmp)/gravrd-fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fno-omit-frame-pointer \
                -Wall -Wextra -Wshadow -Werror -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_PARSERS  = build/fuzz/expr.o build/fuzz/formula.o build/fuzz/csv.o
FUZZ_BIN      = build/fuzz/fuzz_expr build/fuzz/fuzz_formula build/fuzz/fuzz_csv
# mpicc supplies the MPI flags; OMPI_CC makes it run clang
FUZZ_MPICC    = OMPI_CC=$(FUZZ_CC) mpicc

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	FUZZ_WORK="$(FUZZ_WORK)" ./tests/fuzz/run.sh -t $(FUZZ_SECONDS) $(FUZZ_TARGETS)

build/fuzz:
	mkdir -p $@

# the parsers under test: instrumented for coverage
build/fuzz/%.o: src/%.c $(wildcard include/*.h) | build/fuzz
	@echo "  CC  $< (fuzz)"
	@$(FUZZ_MPICC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

build/fuzz/fuzz_expr: tests/fuzz/fuzz_expr.c tests/fuzz/fuzz_util.h build/fuzz/expr.o build/err.o
	@echo "  LD  $@"
	@$(FUZZ_MPICC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< build/fuzz/expr.o build/err.o -lm

build/fuzz/fuzz_formula: tests/fuzz/fuzz_formula.c tests/fuzz/fuzz_util.h build/fuzz/formula.o build/fuzz/expr.o build/err.o
	@echo "  LD  $@"
	@$(FUZZ_MPICC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< build/fuzz/formula.o build/fuzz/expr.o build/err.o -lm

# src/import.c is #included by the target (build_plan is static): link everything else but it
build/fuzz/fuzz_csv: tests/fuzz/fuzz_csv.c tests/fuzz/fuzz_util.h src/import.c $(FUZZ_PARSERS) $(OBJ)
	@echo "  LD  $@"
	@$(FUZZ_MPICC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_PARSERS) \
	  $(filter-out build/import.o $(FUZZ_PARSERS:build/fuzz/%=build/%),$(OBJ)) $(LDLIBS)
