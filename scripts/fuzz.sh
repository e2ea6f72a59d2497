#!/usr/bin/env bash
# Fuzzes the config reader (tests/fuzz/config_input.hpp says what each input must not do):
# builds build-fuzz with Clang, AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer,
# then runs fuzz_config on one worker per core, starting from tests/fuzz/corpus/config and
# the bundled configs. The working corpus grows in build-fuzz/corpus; failing inputs land in
# build-fuzz/findings. Copy a fixed finding into tests/fuzz/corpus/config so that
# FuzzCorpus.EveryInputKeepsTheConfigProperties replays it in every build.
#
#   scripts/fuzz.sh              # 10 minutes
#   FUZZ_SECONDS=3600 scripts/fuzz.sh
#   scripts/fuzz.sh build-fuzz/findings/crash-...   # replay one input
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-600}

# Needs clang and compiler-rt's libFuzzer (Debian: clang, libclang-rt-dev).
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPILLMC_ENABLE_CUDA=OFF -DSPILLMC_ENABLE_MPI=OFF -DSPILLMC_BUILD_BENCH=OFF \
  -DSPILLMC_BUILD_TESTS=ON -DSPILLMC_BUILD_FUZZ=ON -DSPILLMC_SANITIZE=address,undefined,fuzzer-no-link >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_config

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fuzzer=("$root/$build/bin/fuzz_config" -dict="$root/tests/fuzz/config.dict" -max_len=4096
        -timeout=30 -rss_limit_mb=4096)
if [[ $# -gt 0 ]]; then
  exec "${fuzzer[@]}" "$@"
fi
# The workers' logs (fuzz-N.log) go to the build directory.
mkdir -p "$build/corpus" "$build/findings"
cd "$build"
"${fuzzer[@]}" -max_total_time="$seconds" -jobs="$(nproc)" -workers="$(nproc)" \
  -artifact_prefix="$root/$build/findings/" corpus "$root/tests/fuzz/corpus/config" \
  "$root/configs"
