#!/usr/bin/env bash
# Everything a session with a lent GPU does, in one call (device time is short):
# build for sm_90 with tests, run the whole suite (GPU tests included), the GPU
# benchmarks, then compute-sanitizer over the GPU tests. Each phase gets what is
# left of a time budget (one device call may run 10 minutes), so a slow phase
# cuts the later ones short instead of losing the call's output. Logs and the
# result JSON go to $1 (default $OUT or ./gpu-out): 8 files at most.
#
# On the development machine first: bench/fetch_debs.sh   (fills .debs/)
# Then, with the device tool:
#   run(carry=[".debs"], command="BENCH_COMMIT=<sha> scripts/gpu_session.sh $OUT")
# SESSION_BUDGET_S (default 570) is the whole script's budget in seconds;
# PHASES (default "test mpi bench features memcheck racecheck") picks what runs after the build.
# MPI is built when mpirun is found: the machine's, or OpenMPI carried in .debs/.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-${OUT:-gpu-out}}
mkdir -p "$out"
build=build-gpu
budget=${SESSION_BUDGET_S:-570}
phases=" ${PHASES:-test mpi bench features memcheck racecheck} "
want() { [[ $phases == *" $1 "* ]]; }
left() { echo $((budget - SECONDS > 5 ? budget - SECONDS : 5)); }

# Debian packages carried in .debs/ (unpacked into a prefix, not /) and nvcc on PATH.
eval "$(bench/run_gpu.sh --print-env)"

status=0
{
  nvidia-smi -L
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DSPILLMC_WARNINGS_AS_ERRORS=ON &&
    timeout "$(left)" cmake --build "$build" -j "$(nproc)"
} >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; echo "gpu_session: build failed"; exit 1; }
echo "gpu_session: built in ${SECONDS}s"

if want test; then
  timeout "$(left)" ctest --test-dir "$build" --output-on-failure -j 8 --timeout 180 \
    >"$out/ctest.log" 2>&1 || status=1
  grep -E "tests passed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Not Run|CMake Error" "$out/ctest.log" | tail -30
  echo "gpu_session: tests done at ${SECONDS}s"
fi

# MPI ranks on the GPU (also in ctest): the log shows where each rank computed.
if want mpi; then
  if [[ -x $build/bin/test_mpi ]]; then
    timeout "$(left)" "$build/bin/test_mpi" >"$out/mpi.log" 2>&1 || status=1
    grep -E "^mpirun -n|^\[  (PASSED|FAILED|SKIPPED) " "$out/mpi.log" | tail -20
  else
    echo "gpu_session: no test_mpi (MPI not found: carry .debs from bench/fetch_debs.sh)"
  fi
  echo "gpu_session: mpi done at ${SECONDS}s"
fi

if want bench; then
  timeout "$(left)" bench/run_gpu.sh --no-build --build-dir "$build" --copy-to "$out" \
    >"$out/bench.log" 2>&1 || status=1
  tail -12 "$out/bench.log"
  echo "gpu_session: run_gpu done at ${SECONDS}s"
fi

# Feature costs (histograms, conditions, paths, per-draw output, sweep) on the GPU.
if want features; then
  timeout "$(left)" bench/run_features.sh --backend cuda --no-build --build-dir "$build" -r 3 \
    --markdown --out "$out/features_cuda.json" >"$out/features.log" 2>&1 || status=1
  tail -16 "$out/features.log"
  echo "gpu_session: features done at ${SECONDS}s"
fi

# Out-of-bounds accesses (all CUDA tests) and shared-memory races (one test per
# kernel variant: racecheck is about 50 times slower), with whatever time is left.
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
sanitize() {  # tool binary filter
  echo "== $1 $2 $3" >>"$out/sanitizer.log"
  timeout "$(left)" "$sanitizer" --tool "$1" --error-exitcode 9 "$build/bin/$2" --gtest_filter="$3" \
    >>"$out/sanitizer.log" 2>&1 || status=1
}
if [[ -n $sanitizer ]] && { want memcheck || want racecheck; }; then
  if want memcheck; then
    sanitize memcheck test_gpu 'CudaBackendTest.*'
    sanitize memcheck test_sobol_gpu 'SobolCudaTest.*'
  fi
  if want racecheck; then
    sanitize racecheck test_gpu 'CudaBackendTest.PlanAnalysesMatchCpu'
    sanitize racecheck test_gpu 'CudaBackendTest.SweepCellsInOneLaunchMatchPerCellCalls'
    sanitize racecheck test_gpu 'CudaBackendTest.MatchesCpuReferenceBlockByBlock'
    sanitize racecheck test_sobol_gpu 'SobolCudaTest.BlockPartialsMatchCpu'
  fi
  grep -E "^== |ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$out/sanitizer.log" | tail -20
fi
echo "gpu_session: finished at ${SECONDS}s, status $status"
exit $status
