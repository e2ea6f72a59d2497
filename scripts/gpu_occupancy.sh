#!/usr/bin/env bash
# Occupancy experiment for the CUDA kernels, in one device call: builds spillmc
# once per SPILLMC_CUDA_MIN_BLOCKS value (the __launch_bounds__ blocks-per-SM
# target, hence the register cap: 4 -> 128, 5 -> 96, 6 -> 80, 8 -> 64), checks
# that every variant writes the same results as the first, then times them
# alternately, plain summaries and default histograms. A variant "N+fmad" also
# lets nvcc contract into fma (SPILLMC_CUDA_FMAD): what bit-identity with the
# CPU costs; its results differ, as expected. A variant "N+agg" counts the
# histograms with warp-aggregated atomics (SPILLMC_CUDA_HIST_AGGREGATE); its
# results must not differ. Prints a table of medians; the raw lines go to
# $1/occupancy.txt.
#
#   run(carry=[".debs"], command="BENCH_COMMIT=<sha> scripts/gpu_occupancy.sh $OUT")
#   VARIANTS="4 5 6 8" REPS=3 DRAWS=1e10 HIST_DRAWS=2e9 scripts/gpu_occupancy.sh OUTDIR
#   VARIANTS="4 4+agg" scripts/gpu_occupancy.sh OUTDIR
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${1:-${OUT:-gpu-out}}
mkdir -p "$out"
variants=(${VARIANTS:-4 5 6 8})
reps=${REPS:-3}
draws=${DRAWS:-1e10}
hist_draws=${HIST_DRAWS:-2e9}
config=configs/baseline.yaml
raw=$out/occupancy.txt
tmp=$(mktemp -d /tmp/spillmc-occ.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Debian packages carried in .debs/ (unpacked into a prefix, not /) and nvcc on PATH.
eval "$(bench/run_gpu.sh --print-env)"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) commit ${BENCH_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
  echo "# VARIANTS=\"${variants[*]}\" REPS=$reps DRAWS=$draws HIST_DRAWS=$hist_draws $config"
  nvidia-smi -L
} | tee "$raw"

jobs_each=$(($(nproc) / ${#variants[@]} > 0 ? $(nproc) / ${#variants[@]} : 1))
for v in "${variants[@]}"; do
  (
    b=build-occ$v
    cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
      -DSPILLMC_ENABLE_MPI=OFF -DSPILLMC_BUILD_TESTS=OFF -DSPILLMC_BUILD_BENCH=OFF \
      -DSPILLMC_CUDA_MIN_BLOCKS="${v%%+*}" -DSPILLMC_CUDA_FMAD=$([[ $v == *+fmad* ]] && echo ON || echo OFF) \
      -DSPILLMC_CUDA_HIST_AGGREGATE=$([[ $v == *+agg* ]] && echo ON || echo OFF) >"$tmp/build$v.log" 2>&1 &&
      cmake --build "$b" --target spillmc -j "$jobs_each" >>"$tmp/build$v.log" 2>&1 ||
      { tail -20 "$tmp/build$v.log"; echo "gpu_occupancy: build of variant $v failed"; }
  ) &
done
wait
echo "gpu_occupancy: built in ${SECONDS}s"

# Same seed, same bits: every variant's results must equal the first's.
results() {  # variant draws extra-args... -> JSON of the results without file name and timing
  build-occ$1/bin/spillmc run "$config" --draws "$2" --backend cuda "${@:3}" -o "$tmp/c$1.h5" --force -q &&
    build-occ$1/bin/spillmc inspect "$tmp/c$1.h5" --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); [d.pop(k) for k in ("file","attributes")]; print(json.dumps(d,sort_keys=True))'
}
status=0
for args in "--set histograms=false" ""; do
  ref=$(results "${variants[0]}" 1e8 $args)
  for v in "${variants[@]:1}"; do
    if [[ $(results "$v" 1e8 $args) != "$ref" || -z $ref ]]; then
      echo "gpu_occupancy: variant $v differs from ${variants[0]} ($args)"
      [[ $v == *+fmad* ]] || status=1
    fi
  done
done
echo "gpu_occupancy: results compared (status $status) at ${SECONDS}s"

rate() {  # variant draws extra-args... -> draws/s from spillmc's closing log line
  build-occ$1/bin/spillmc run "$config" --draws "$2" --backend cuda "${@:3}" -o "$tmp/t.h5" --force \
    --log-level info 2>&1 >/dev/null | sed -n 's/.*wrote .* in [0-9.e+-]* s, \([0-9.e+-]*\) draws\/s.*/\1/p' | tail -1
}
for v in "${variants[@]}"; do rate "$v" 1e9 --set histograms=false >/dev/null; done  # warm-up
for r in $(seq 1 "$reps"); do
  for v in "${variants[@]}"; do
    echo "plain $v $(rate "$v" "$draws" --set histograms=false)" >>"$raw"
    echo "histograms $v $(rate "$v" "$hist_draws")" >>"$raw"
  done
done
python3 - "$raw" "${variants[0]}" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3 and p[0] in ("plain", "histograms"):
        rows.setdefault((p[0], p[1]), []).append(float(p[2]))
base = {k[0]: statistics.median(v) for k, v in rows.items() if k[1] == sys.argv[2]}
print(f"{'run':11} {'min_blocks':>10} {'median draws/s':>15} {'vs first':>9}  reps")
for (what, v), xs in sorted(rows.items()):
    m = statistics.median(xs)
    print(f"{what:11} {v:>10} {m:15.4g} {m / base[what]:9.3f}  {' '.join(f'{x:.4g}' for x in xs)}")
EOF
echo "gpu_occupancy: finished at ${SECONDS}s, status $status"
exit $status
