#!/usr/bin/env bash
# Everything a session with a lent GPU does, in one call (device time is short):
# build for sm_90 with tests, run the whole suite (GPU tests included), then
# the GPU benchmarks. Logs and the result JSON go to $1 (default $OUT or ./gpu-out).
#
# On the development machine first: bench/fetch_debs.sh   (fills .debs/)
# Then, with the device tool: run(carry=[".debs"], command="scripts/gpu_session.sh $OUT")
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-${OUT:-gpu-out}}
mkdir -p "$out"
build=build-gpu

# Debian packages carried in .debs/, unpacked into a prefix (not /).
if [[ -d .debs ]]; then
  eval "$(bench/run_gpu.sh --print-env)"
fi
for d in /usr/local/cuda/bin /opt/cuda/bin; do [[ -x $d/nvcc ]] && export PATH=$d:$PATH && break; done
nvidia-smi -L | tee "$out/gpu.txt"

status=0
{
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSPILLMC_WARNINGS_AS_ERRORS=ON &&
    cmake --build "$build" -j "$(nproc)"
} >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; echo "gpu_session: build failed"; exit 1; }

ctest --test-dir "$build" --output-on-failure -j 4 >"$out/ctest.log" 2>&1 || status=1
grep -E "tests passed|Skipped|Failed|FAILED" "$out/ctest.log" | tail -30

bench/run_gpu.sh --no-build --build-dir "$build" --copy-to "$out" >"$out/bench.log" 2>&1 || status=1
tail -20 "$out/bench.log"

# Feature costs (histograms, conditions, paths, per-draw output, sweep) on the GPU.
bench/run_features.sh --backend cuda --no-build --build-dir "$build" -r 3 --markdown \
  --out "$out/features_cuda.json" >"$out/features.log" 2>&1 || status=1
tail -20 "$out/features.log"
exit $status
