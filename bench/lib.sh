# shellcheck shell=bash
# Sourced by the CPU bench scripts (run_cpu.sh, scale.sh): the steps they share.
# The caller sets `me` (its name, for messages) before sourcing.

: "${me:?set me before sourcing bench/lib.sh}"
die() { echo "$me: $*" >&2; exit 1; }

# Sets `python` to Debian's python3 (or the first on PATH) and checks it can
# import the given modules.
bench_python() {
  python=/usr/bin/python3
  [[ -x $python ]] || python=$(command -v python3) || die "needs python3 (with $*)"
  local imports
  imports=$(IFS=,; echo "$*")
  "$python" -c "import $imports" 2>/dev/null || die "$python lacks one of: $*; run scripts/setup.sh"
}

# Builds the spillmc target in $1 as a Release build (configuring it first if
# it is missing or of another type) and sets `bin`. With $2 = 0, only checks.
bench_build() {
  local build_dir=$1 do_build=${2:-1} build_type
  if ((do_build)); then
    build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
    if [[ $build_type != Release ]]; then
      echo "$me: configuring $build_dir (Release)"
      cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DSPILLMC_ENABLE_CUDA=OFF >/dev/null
    fi
    echo "$me: building spillmc in $build_dir"
    cmake --build "$build_dir" --target spillmc -j "$(nproc)" >/dev/null ||
      die "build failed: cmake --build $build_dir --target spillmc"
  fi
  bin=$build_dir/bin/spillmc
  [[ -x $bin ]] || die "no $bin (build it, or drop --no-build)"
}

# Sets `stamp` (UTC), `host` (a safe host name) and, unless already set, `out` to
# bench/results/<UTC stamp>-<host>-$1.json; creates its directory.
bench_result_path() {
  host=$(hostname -s 2>/dev/null || true)
  [[ $host =~ ^[A-Za-z0-9._-]+$ ]] || host=cpu
  stamp=$(date -u +%Y%m%dT%H%MZ)
  [[ -n ${out:-} ]] || out=bench/results/$stamp-$host-$1.json
  mkdir -p "$(dirname "$out")"
}
