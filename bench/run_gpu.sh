#!/usr/bin/env bash
# GPU throughput of SpillMC (summary mode: --set histograms=false) on an NVIDIA GPU, and the kernel's
# share of the instruction-issue ceiling from Nsight Compute. Writes
# bench/results/<UTC date>-<gpu>-gpu.json and prints a short summary.
#
#   bench/run_gpu.sh [-r REPS] [--draws "1e9 1e10"] [--arch 90] [--no-ncu]
#                    [--build-dir DIR] [--no-build] [--config FILE] [--out FILE]
#
#   -r, --reps N      repetitions per draw count (default 5); medians reported
#   --draws LIST      draw counts to time (default "1e9 1e10")
#   --arch A          CMAKE_CUDA_ARCHITECTURES (default 90: H100/H200)
#   --no-ncu          skip the Nsight Compute profile
#   --build-dir DIR   build folder (default build-gpu)
#   --no-build        use the build as it is
#   --config FILE     config to run (default configs/baseline.yaml)
#   --out FILE        result JSON (default bench/results/<date>-<gpu>-gpu.json)
#   --copy-to DIR     also copy the result JSON into DIR (e.g. "$OUT" on the device tool)
#   --print-env       unpack .debs/ and print the environment it sets (for eval), then stop
#
# Dependencies: a machine without SpillMC's Debian dev packages (and with no
# registry to fetch them from) gets them from .debs/ (bench/fetch_debs.sh
# fills it on the development machine; the device tool carries it). They are
# unpacked with dpkg -x into $DEPS_PREFIX (default /tmp/deps), never into /,
# and CMake, the compiler and the loader are pointed there.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

reps=5
draws_list="1e9 1e10"
arch=90
ncu_on=1
build_dir=build-gpu
do_build=1
config=configs/baseline.yaml
out=
deps=${DEPS_PREFIX:-/tmp/deps}
print_env=0
copy_to=
orig_args=("$@")
while (($#)); do
  case $1 in
    -r | --reps) reps=$2; shift 2 ;;
    --draws) draws_list=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --no-ncu) ncu_on=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --print-env) print_env=1; shift ;;
    --copy-to) copy_to=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_gpu: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

die() { echo "run_gpu: $*" >&2; exit 1; }
log() { echo "run_gpu: $*" >&2; }

# --- dependencies carried as .deb files ---------------------------------------
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [[ -d .debs ]] && compgen -G ".debs/*.deb" >/dev/null; then
  log "unpacking $(ls .debs/*.deb | wc -l) packages from .debs/ into $deps"
  mkdir -p "$deps"
  for f in .debs/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$deps"
    else  # no dpkg: a .deb is an ar archive holding data.tar.{xz,zst,gz}
      x=$(mktemp -d)
      (cd "$x" && ar x "$root/$f" && tar -xf data.tar.* -C "$deps")
      rm -rf "$x"
    fi
  done
  lib=$deps/usr/lib/$multiarch
  export CMAKE_PREFIX_PATH=$deps/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export HDF5_ROOT=$lib/hdf5/serial
  export CPATH=$deps/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$lib${LIBRARY_PATH:+:$LIBRARY_PATH}
  # The system's libraries first, the carried ones only for what it lacks
  # (libhdf5, libsz, ...): the loader searches LD_LIBRARY_PATH in order.
  export LD_LIBRARY_PATH=/lib/$multiarch:/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$lib:$deps/lib/$multiarch
  # OpenMPI from .debs when the machine has none: Debian's build, relocated with
  # OPAL_PREFIX, and the usual names (Debian makes them with update-alternatives).
  if [[ -x $deps/usr/bin/orterun ]] && ! command -v mpirun >/dev/null; then
    mkdir -p "$deps/mpi-bin"
    for name in mpirun mpiexec; do ln -sfn "$deps/usr/bin/orterun" "$deps/mpi-bin/$name"; done
    for name in mpicc mpicxx; do ln -sfn "$deps/usr/bin/opal_wrapper" "$deps/mpi-bin/$name"; done
    export PATH=$deps/mpi-bin:$PATH OPAL_PREFIX=$deps/usr
    # PMIx (a library of its own) ignores OPAL_PREFIX: point it at its components.
    export PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
    # Components whose libraries were not carried (InfiniBand providers) are skipped quietly.
    export OMPI_MCA_mca_base_component_show_load_errors=0
  fi
fi
# CMake 4 refuses package files that ask for policies older than 3.5 (Debian's do).
export CMAKE_POLICY_VERSION_MINIMUM=3.5
# nvcc where the CUDA toolkit installs it, when it is not on PATH.
if ! command -v nvcc >/dev/null; then
  for d in /usr/local/cuda/bin /opt/cuda/bin; do [[ -x $d/nvcc ]] && export PATH=$d:$PATH && break; done
fi
if ((print_env)); then
  for v in CMAKE_PREFIX_PATH HDF5_ROOT CPATH LIBRARY_PATH LD_LIBRARY_PATH CMAKE_POLICY_VERSION_MINIMUM \
    PATH OPAL_PREFIX PMIX_MCA_mca_base_component_path OMPI_MCA_mca_base_component_show_load_errors; do
    [[ -n ${!v:-} ]] && printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi

command -v nvidia-smi >/dev/null || die "no nvidia-smi: this script needs a machine with an NVIDIA GPU"
nvidia-smi -L >/dev/null 2>&1 || die "nvidia-smi sees no GPU (driver not loaded?)"
python=$(command -v python3) || die "needs python3 (standard library only) to write the JSON"
[[ -f $config ]] || die "no config '$config'"

# --- build ---------------------------------------------------------------------------
if ((do_build)); then
  command -v nvcc >/dev/null || die "no nvcc on PATH or in /usr/local/cuda/bin: install the CUDA toolkit"
  command -v cmake >/dev/null || die "no cmake"
  log "configuring $build_dir (Release, CUDA, sm_$arch)"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" -DSPILLMC_BUILD_TESTS=OFF -DSPILLMC_BUILD_BENCH=ON \
    >"$build_dir.configure.log" 2>&1 ||
    { tail -30 "$build_dir.configure.log" >&2; die "configure failed (log: $build_dir.configure.log)"; }
  log "building spillmc"
  cmake --build "$build_dir" --target spillmc bench_gpu_stages -j "$(nproc)" \
    >"$build_dir.build.log" 2>&1 ||
    { tail -30 "$build_dir.build.log" >&2; die "build failed (log: $build_dir.build.log)"; }
fi
bin=$build_dir/bin/spillmc
[[ -x $bin ]] || die "no $bin (build it, or drop --no-build)"
"$bin" --version | grep -q "CUDA backend on" || die "$bin was built without the CUDA backend"

gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
gpu_slug=$(echo "$gpu_name" | tr -cs 'A-Za-z0-9' '-' | sed 's/^-*//; s/-*$//')
stamp=$(date -u +%Y%m%dT%H%MZ)
[[ -n $out ]] || out=bench/results/$stamp-${gpu_slug:-gpu}-gpu.json
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d /tmp/spillmc-gpu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# One timed run: prints "draws_per_second wall_seconds" from spillmc's closing log line
# ("wrote F: N draws (...) in X s, Y draws/s"); its own timing of the computation.
timed_run() {
  local n=$1 err=$tmp/run.err
  if ! "$bin" run "$config" --draws "$n" --backend cuda --set histograms=false -o "$tmp/g.h5" --force \
    --log-level info 2>"$err" >/dev/null; then
    tail -20 "$err" >&2
    die "spillmc run --draws $n --backend cuda failed"
  fi
  sed -n 's/.*wrote .* in \([0-9.e+-]*\) s, \([0-9.e+-]*\) draws\/s.*/\2 \1/p' "$err" | tail -1
}

log "warm-up (1e8 draws)"
timed_run 1e8 >/dev/null
: >"$tmp/runs.txt"
for r in $(seq 1 "$reps"); do
  for n in $draws_list; do
    read -r rate wall < <(timed_run "$n")
    [[ -n ${rate:-} ]] || die "could not read draws/s from spillmc's log"
    echo "$n $rate $wall" >>"$tmp/runs.txt"
    log "rep $r/$reps: $n draws: $rate draws/s ($wall s)"
  done
done

# --- Nsight Compute: one launch of the tally kernel ---------------------------------
metrics="sm__inst_issued.avg.pct_of_peak_sustained_active,sm__inst_executed.avg.per_cycle_active,smsp__inst_issued.sum"
metrics+=",sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread"
metrics+=",gpu__time_duration.sum,sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active"
# ncu_launch METRICS NAME: the second launch of the plain tally kernel (the first
# is a warm-up) into $tmp/NAME.csv; prints "ok" or "failed: <ncu's error>".
ncu_launch() {
  if "$ncu_bin" --clock-control none -k regex:tally_kernel --launch-skip 1 --launch-count 1 \
    --metrics "$1" --csv --page raw \
    "$bin" run "$config" --draws 1e9 --backend cuda --set histograms=false -o "$tmp/p.h5" \
    --force --quiet \
    >"$tmp/$2.csv" 2>"$tmp/$2.err"; then
    echo ok
  else
    echo "failed: $(grep -h -m1 -E 'ERR|rror' "$tmp/$2.err" "$tmp/$2.csv" | cut -c1-300 || true)"
  fi
}

: >"$tmp/ncu.csv"
ncu_status="skipped (--no-ncu)"
if ((ncu_on)); then
  ncu_bin=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)
  if [[ -z $ncu_bin ]]; then
    ncu_status="skipped: ncu not found"
  else
    log "profiling one launch with $ncu_bin"
    ncu_status=$(ncu_launch "$metrics" ncu)
    [[ $ncu_status == ok ]] || log "ncu $ncu_status"
  fi
fi

# --- Why issue stops at about half the ceiling: warp stall reasons and divergence ------
# A second pass, so that a metric this ncu does not know costs only this part.
# smsp__average_warps_issue_stalled_<reason>_per_issue_active: warps waiting for
# that reason per issued instruction (their sum over reasons is the warps per issue).
stall_reasons="no_instruction math_pipe_throttle wait short_scoreboard long_scoreboard barrier"
stall_reasons+=" not_selected selected dispatch_stall mio_throttle branch_resolving lg_throttle"
stall_reasons+=" imc_miss drain membar misc sleeping tex_throttle"
stall_metrics="smsp__average_warps_active_per_issue_active.ratio"
stall_metrics+=",smsp__thread_inst_executed.sum,smsp__inst_executed.sum"
for r in $stall_reasons; do
  stall_metrics+=",smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio"
done
: >"$tmp/stalls.csv"
stalls_status="skipped: ncu not run"
if [[ $ncu_status == ok ]]; then
  log "warp stall reasons of the same launch"
  stalls_status=$(ncu_launch "$stall_metrics" stalls)
  [[ $stalls_status == ok ]] || log "ncu (stalls) $stalls_status"
fi

# --- where a draw's time goes: bench_gpu_stages, timed, then each stage under ncu -----
stages_bin=$build_dir/bin/bench_gpu_stages
stages_status="skipped: no $stages_bin"
: >"$tmp/stages.json"
: >"$tmp/stages_ncu.csv"
if [[ -x $stages_bin ]]; then
  log "timing the stages of a draw (bench_gpu_stages)"
  if "$stages_bin" "$config" --reps "$reps" >"$tmp/stages.json" 2>"$tmp/stages.err"; then
    stages_status="ok"
  else
    stages_status="failed: $(head -c 300 "$tmp/stages.err")"
    log "bench_gpu_stages $stages_status"
  fi
  # Instructions per draw of each stage: its third launch (check, warm-up, timed).
  if [[ $stages_status == ok && $ncu_status == ok ]]; then
    for name in $("$python" -c 'import json,sys; print(" ".join(s["name"] for s in json.load(open(sys.argv[1]))["stages"]))' "$tmp/stages.json"); do
      echo "# stage $name" >>"$tmp/stages_ncu.csv"
      "$ncu_bin" --clock-control none -k regex:stage_kernel --launch-skip 2 --launch-count 1 \
        --metrics smsp__inst_executed.sum,smsp__inst_issued.sum,launch__registers_per_thread \
        --csv --page raw "$stages_bin" "$config" --only "$name" --reps 1 --draws 16777216 \
        >>"$tmp/stages_ncu.csv" 2>>"$tmp/stages.err" || log "ncu on stage $name failed"
    done
  fi
fi

smi=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
  --format=csv,noheader | head -1)
nvcc_version=$(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' || true)
export RG_OUT=$out RG_RUNS=$tmp/runs.txt RG_NCU=$tmp/ncu.csv RG_NCU_STATUS=$ncu_status
export RG_STALLS=$tmp/stalls.csv RG_STALLS_STATUS=$stalls_status
export RG_SMI=$smi RG_NVCC=${nvcc_version:-unknown} RG_CONFIG=$config RG_REPS=$reps
export RG_STAGES=$tmp/stages.json RG_STAGES_NCU=$tmp/stages_ncu.csv RG_STAGES_STATUS=$stages_status
RG_VERSION=$("$bin" --version)
export RG_VERSION RG_COMMAND="bench/run_gpu.sh${orig_args[*]:+ ${orig_args[*]}}"
"$python" - <<'END_PYTHON'
import csv, json, os, statistics, sys
sys.path.insert(0, "bench")
from benchmeta import provenance  # noqa: E402  (date, commit, dirty; honours BENCH_COMMIT)

env = os.environ
runs = {}
with open(env["RG_RUNS"]) as f:
    for line in f:
        n, rate, wall = line.split()
        runs.setdefault(n, []).append((float(rate), float(wall)))

# ncu --csv --page raw: a header row of metric names, a row of units, one row per kernel.
def ncu_raw(path):
    metrics, kernel = {}, None
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r]
    head = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
    if head is not None and len(rows) > head + 2:
        names, units, values = rows[head], rows[head + 1], rows[head + 2]
        for name, unit, value in zip(names, units, values):
            if "__" in name:
                try:
                    v = float(value.replace(",", ""))
                except ValueError:
                    v = value
                metrics[name] = {"value": v, "unit": unit}
        kernel = values[names.index("Kernel Name")]
    return metrics, kernel

ncu = {"status": env["RG_NCU_STATUS"]}
ncu["metrics"], ncu["kernel"] = ncu_raw(env["RG_NCU"])
issue = ncu["metrics"].get("sm__inst_issued.avg.pct_of_peak_sustained_active", {}).get("value")
ncu["issue_fraction_of_ceiling"] = issue / 100.0 if isinstance(issue, float) else None

# Stall reasons: warps stalled for each reason per issued instruction, largest first.
stalls = {"status": env["RG_STALLS_STATUS"]}
if stalls["status"] == "ok":
    sm, _ = ncu_raw(env["RG_STALLS"])
    stalls["metrics"] = sm
    pre, post = "smsp__average_warps_issue_stalled_", "_per_issue_active.ratio"
    per = {k[len(pre):-len(post)]: m["value"] for k, m in sm.items()
           if k.startswith(pre) and k.endswith(post) and isinstance(m["value"], float)}
    stalls["warps_per_issue"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
    thr = sm.get("smsp__thread_inst_executed.sum", {}).get("value")
    ins = sm.get("smsp__inst_executed.sum", {}).get("value")
    # Active threads per executed warp instruction, of 32: below 32 is divergence.
    stalls["threads_per_instruction"] = thr / ins if isinstance(thr, float) and ins else None
ncu["stalls"] = stalls

# Stages of a draw: bench_gpu_stages' JSON, with each stage's ncu counts (16777216 draws).
stages = {"status": env["RG_STAGES_STATUS"]}
if stages["status"] == "ok":
    stages.update(json.load(open(env["RG_STAGES"])))
    per_stage, name, rows = {}, None, []
    def flush():
        h = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
        if name and h is not None and len(rows) > h + 2:
            per_stage[name] = dict(zip(rows[h], rows[h + 2]))
    with open(env["RG_STAGES_NCU"]) as f:
        for r in csv.reader(f):
            if r and r[0].startswith("# stage "):
                flush()
                name, rows = r[0][len("# stage "):], []
            elif r:
                rows.append(r)
    flush()
    for st in stages["stages"]:
        m = per_stage.get(st["name"])
        if m:
            inst = float(m["smsp__inst_executed.sum"].replace(",", ""))
            st["ncu"] = {"instructions_per_draw": inst * 32 / 16777216,
                         "registers": m.get("launch__registers_per_thread")}

meas = {}
for n, rs in runs.items():
    rates = [r for r, _ in rs]
    meas[f"cuda_{n}"] = {"what": f"spillmc run --backend cuda --set histograms=false --draws {n}",
                         "draws": int(float(n)),
                         "draws_per_second": rates, "wall_seconds": [w for _, w in rs],
                         "median": statistics.median(rates)}
best = max(meas.values(), key=lambda m: m["draws"])["median"] if meas else None
smi = [s.strip() for s in env["RG_SMI"].split(",")]
result = {
    "kind": "spillmc-bench-gpu",
    "schema": 1,
    **provenance(),
    "command": env["RG_COMMAND"],
    "config": env["RG_CONFIG"],
    "machine": {"gpu": smi[0], "driver": smi[1] if len(smi) > 1 else None,
                "memory": smi[2] if len(smi) > 2 else None,
                "max_sm_clock": smi[3] if len(smi) > 3 else None,
                "max_mem_clock": smi[4] if len(smi) > 4 else None,
                "nproc": os.cpu_count()},
    "software": {"spillmc": env["RG_VERSION"], "nvcc": env["RG_NVCC"]},
    "reps": int(env["RG_REPS"]),
    "measurements": meas,
    "ncu": ncu,
    "stages": stages,
    "targets": {"gpu_3e10": {"target": ">= 3e10 draws/s in summary mode on an H100 "
                             "(largest draw count)", "measured": best,
                             "met": None if best is None or "H100" not in smi[0]
                             else best >= 3e10}},
}
with open(env["RG_OUT"], "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
print(f"SpillMC GPU benchmark, {env['RG_CONFIG']}, {smi[0]}, {result['reps']} reps, medians")
for k, m in meas.items():
    print(f"  {k:12s} {m['median']:11.4g} draws/s")
print(f"  ncu: {ncu['status']}" + ("" if ncu["issue_fraction_of_ceiling"] is None else
      f"; instruction issue {100 * ncu['issue_fraction_of_ceiling']:.1f} % of the ceiling"))
if stalls["status"] == "ok":
    top = ", ".join(f"{k} {v:.2f}" for k, v in list(stalls["warps_per_issue"].items())[:5])
    tpi = stalls["threads_per_instruction"]
    print(f"  stalls (warps per issue): {top}"
          + ("" if tpi is None else f"; {tpi:.1f} of 32 threads active per instruction"))
else:
    print(f"  stalls: {stalls['status']}")
for st in stages.get("stages", []):
    ipd = st.get("ncu", {}).get("instructions_per_draw")
    print(f"  stage {st['name']:10s} {st['median']:11.4g} draws/s  {st['ns_per_draw']:8.4g} ns/draw"
          + ("" if ipd is None else f"  {ipd:7.0f} instructions/draw") + f"  check {st['check']}")
if stages["status"] != "ok":
    print(f"  stages: {stages['status']}")
t = result["targets"]["gpu_3e10"]
print(f"  target gpu_3e10: {dict([(True, 'met'), (False, 'NOT met'), (None, 'n/a')])[t['met']]}")
print(f"run_gpu: wrote {env['RG_OUT']}")
END_PYTHON
if [[ -n $copy_to ]]; then
  mkdir -p "$copy_to" && cp "$out" "$copy_to/" && log "copied $(basename "$out") to $copy_to"
fi
