# gravrd: MPI-parallel fixed-effects estimator for city-pair trade panels.
# `make run`  : install missing Debian packages (as root), build, simulate the default panel, run the study's tables.
# `make test` : install, build, run every test; ends with "N passed, N failed, N skipped".
# `make asan` : the tests on an AddressSanitizer + UBSan build (then rebuilds the normal one).

PKGS      = mpi hdf5-openmpi scalapack-openmpi lapacke openblas cmocka libcjson yaml-0.1 libdeflate
# gcc + libc6-dev: mpicc only wraps a compiler, and libopenmpi-dev does not pull one in without recommends.
# git is optional (the version hash falls back to "unknown"); make itself must already be there.
# clang-14 + libclang-rt-14-dev: libFuzzer and the sanitizer runtimes for `make fuzz` and tests/it_fuzz.sh.
DEB_PKGS  = gcc libc6-dev libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libscalapack-openmpi-dev \
            libopenblas-dev liblapacke-dev libcmocka-dev libcjson-dev libgsl-dev libyaml-dev libdeflate-dev pkg-config \
            python3 python3-h5py python3-scipy clang-14 libclang-rt-14-dev bc
CC        = mpicc
VERSION   = 0.1.0
GIT_HASH := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
OPT      ?= -O2 -march=x86-64-v2
# -ffp-contract=off (ISO C's default, said outright): no fused multiply-add, so the AVX2 and SSE2 kernels
# give the same bits (fe.c, ppml.c) whatever OPT says
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) -ffp-contract=off -g -Wall -Wextra -Wshadow -Werror \
            -Iinclude -DGR_VERSION='"$(VERSION)"' -DGR_GIT_HASH='"$(GIT_HASH)"' \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Start-up (docs/scale.md, "Start-up"): Debian's shared HDF5 pulls in libcurl and its TLS, LDAP and Kerberos
# libraries (HDF5's S3 driver, unused here): 57 shared objects for the dynamic linker to load and relocate
# at every launch. Linked from the static archive, HDF5 brings only the objects it uses (27 shared objects,
# ~8 ms less CPU per process). Without the archive, the shared library as before.
HDF5_A   := $(firstword $(wildcard $(patsubst -L%,%/libhdf5.a,$(filter -L%,$(shell pkg-config --libs hdf5-openmpi 2>/dev/null)))))
LDHDF5    = $(if $(HDF5_A),$(HDF5_A) -lsz -lz -ldl,$(shell pkg-config --libs hdf5-openmpi 2>/dev/null))
LDLIBS   += -Wl,-O1 -Wl,--as-needed -Wl,--hash-style=gnu -lgsl $(LDHDF5) \
            $(shell pkg-config --libs $(filter-out hdf5-openmpi,$(PKGS)) 2>/dev/null) -lm

SRC   = $(filter-out src/main.c,$(wildcard src/*.c))
OBJ   = $(SRC:src/%.c=build/%.o)
TSRC  = $(wildcard tests/test_*.c)
TBIN  = $(TSRC:tests/%.c=build/tests/%) build/tests/jcmp build/tests/slow_unlink.so
PANEL = data/default.h5

export OMPI_ALLOW_RUN_AS_ROOT = 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM = 1
export OMPI_MCA_rmaps_base_oversubscribe = 1
export OPENBLAS_NUM_THREADS = 1
# Start-up on one node (docs/scale.md "Start-up"): ob1 is the PML Open MPI picks here anyway; naming it skips
# probing the UCX/cm components (~0.2 s of MPI_Init), and a singleton (1 rank, no mpirun) then starts no
# orted. Right for `make run`, `make bench` and the tests; wrong on a cluster's fast interconnect, so not
# inside a Slurm allocation (jobs/ keep Open MPI's defaults there: UCX).
ifeq ($(SLURM_JOB_ID),)
export OMPI_MCA_pml ?= ob1
export OMPI_MCA_ess_singleton_isolated ?= 1
endif

.PHONY: all deps run test asan bench bench-model bench-grid clean readme readme-check
all: bin/gravrd

deps:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; fi; fi

build/%.o: src/%.c $(wildcard include/*.h) | build
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -c $< -o $@

# the version line and provenance carry the git hash: rebuild them when the checkout changes
# (the git directory, also in a worktree, where .git is a file)
GIT_DIR := $(shell git rev-parse --git-dir 2>/dev/null)
build/err.o build/main.o: $(if $(GIT_DIR),$(wildcard $(GIT_DIR)/HEAD $(GIT_DIR)/index $(GIT_DIR)/logs/HEAD))

build build/tests bin data:
	mkdir -p $@

bin/gravrd: build/main.o $(OBJ) | bin
	@echo "  LD  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/tests/jcmp: tests/jcmp.c | build/tests
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# an LD_PRELOAD shim of tests/it_io.sh; plain gcc, never sanitized (preloaded before a sanitizer's runtime)
build/tests/slow_unlink.so: tests/slow_unlink.c | build/tests
	gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

build/tests/%: tests/%.c tests/mpi_cmocka.h tests/test_rng.h $(OBJ) | build/tests
	@echo "  LD  $@"
	@$(CC) $(CFLAGS) -o $@ $< $(OBJ) $(LDLIBS)

# rebuilt when the simulator changes (a panel made by an older simulator would silently differ from the docs)
$(PANEL): src/simulate.c src/sim_world.c include/simulate.h | data
	$(MAKE) --no-print-directory bin/gravrd
	./bin/gravrd simulate --out $(PANEL)

run: deps
	$(MAKE) --no-print-directory bin/gravrd $(PANEL)
	./jobs/main.sh $(PANEL)

# `make test` tests the normal build: one left by `make asan` (interrupted) is cleaned first
test: deps
	@if [ -f bin/gravrd ] && nm bin/gravrd 2>/dev/null | grep -q __asan_init; then \
	  echo "make test: bin/gravrd is a sanitizer build (make asan): rebuilding"; $(MAKE) --no-print-directory clean; fi
	$(MAKE) --no-print-directory bin/gravrd $(TBIN)
	./tests/run.sh

# the whole suite on an AddressSanitizer + UBSan build. Every ASan report (written to build/sanitizer/,
# whatever the test did with the program's output) is a failure (tests/run.sh); UBSan, which does not
# write to log_path when linked with ASan, aborts the program (a crash for the test). The tests' time limits
# are tripled (GR_TEST_TIME_SCALE, tests/lib.sh). Leaves the normal build.
SAN_LOGS = $(CURDIR)/build/sanitizer
asan: deps
	$(MAKE) --no-print-directory clean
	$(MAKE) --no-print-directory OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" bin/gravrd $(TBIN)
	mkdir -p $(SAN_LOGS)
	GR_SANITIZER_LOGS=$(SAN_LOGS) GR_TEST_TIME_SCALE=3 ASAN_OPTIONS=detect_leaks=0:log_path=$(SAN_LOGS)/asan \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 ./tests/run.sh; rc=$$?; \
	  $(MAKE) --no-print-directory clean && $(MAKE) --no-print-directory bin/gravrd $(TBIN) && exit $$rc

# the benchmark suite of issue #16 (bench/suite.sh; docs/scale.md): writes bench/results/latest.json and
# latest.md. Some minutes (it makes a 30M-row panel in data/bench/ once, ~2 GB); GRID=0 skips the grids,
# BENCH_LARGE=1 adds the 100M-row case (~7 GB, minutes). `make bench-model`: the main model alone (bench/run.sh).
bench: deps
	$(MAKE) --no-print-directory bin/gravrd $(PANEL)
	./bench/suite.sh $(PANEL)

bench-model: deps
	$(MAKE) --no-print-directory bin/gravrd $(PANEL)
	./bench/run.sh $(PANEL)

# the grid runner: the 150-specification grid, the large sweep, Table 3 end to end (minutes)
bench-grid: deps
	$(MAKE) --no-print-directory bin/gravrd $(PANEL)
	./bench/grid.sh $(PANEL)

# README.md's sample outputs, regenerated from the program: `readme` rewrites the marked blocks,
# `readme-check` compares them and fails with a diff (tests/readme_outputs.sh; make test runs it_readme.sh)
readme: bin/gravrd
	./tests/readme_outputs.sh --write

readme-check: bin/gravrd
	./tests/readme_outputs.sh --check

clean:
	rm -rf build bin

# `make test-slurm`: the batch scripts in jobs/ on a real single-node Slurm cluster that the test starts
# (or reuses) and stops (tests/slurm/run.sh, docs/slurm.md; as root: it installs the packages and starts
# munged, slurmctld and slurmd). Not part of `make test`, which needs no Slurm. About a minute.
SLURM_DEB_PKGS = slurm-wlm munge
.PHONY: test-slurm
test-slurm: deps
	@missing=""; for p in $(SLURM_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 \
	      install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  else echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; fi; fi
	@if [ -f bin/gravrd ] && nm bin/gravrd 2>/dev/null | grep -q __asan_init; then \
	  echo "make test-slurm: bin/gravrd is a sanitizer build (make asan): rebuilding"; $(MAKE) --no-print-directory clean; fi
	$(MAKE) --no-print-directory bin/gravrd build/tests/jcmp
	./tests/slurm/run.sh

# `make fuzz`, `make fuzz-build`: libFuzzer targets for the parsers (tests/fuzz/fuzz.mk)
include tests/fuzz/fuzz.mk
