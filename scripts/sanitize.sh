#!/usr/bin/env bash
# The host code under AddressSanitizer and UndefinedBehaviorSanitizer: builds
# build-asan (CPU backend, no CUDA, no MPI: OpenMPI's own allocations would
# flood the leak report) with -DSPILLMC_SANITIZE=address,undefined and runs the
# whole test suite there. The tests start the sanitized `spillmc` too, so a
# finding in the program fails the test that ran it. Any report fails the run.
#
#   scripts/sanitize.sh            # about 25 minutes on 2 cores
#   BUILD_DIR=/tmp/asan scripts/sanitize.sh -R Cli   # extra arguments go to ctest
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build-asan}

# Warnings are not errors here: GCC 12's -Wmaybe-uninitialized misfires on std::regex and
# std::function under the sanitizers' instrumentation (CI's builds keep warnings as errors).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPILLMC_ENABLE_CUDA=OFF \
  -DSPILLMC_ENABLE_MPI=OFF -DSPILLMC_BUILD_BENCH=OFF -DSPILLMC_SANITIZE=address,undefined \
  -DSPILLMC_WARNINGS_AS_ERRORS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"

# halt_on_error: the first finding ends the process with exit 1, so no report can pass unseen.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$root/tests/sanitizers/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# SlurmTemplates runs 8e7 draws under its own 120 s limit, past which the sanitizers' slowdown
# takes it; its code paths (checkpoint, resume, shards, merge) have tests of their own here.
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 900 -E '^SlurmTemplates$' "$@"
