#!/usr/bin/env bash
# Per-draw output (output.draws) throughput against the disk's raw sequential
# write speed, measured side by side in one run. Writes
# bench/results/<UTC date>-<host>-draws.json and prints a short summary.
#
#   bench/run_draws.sh [-r REPS] [--mib MIB] [--dir DIR] [--build-dir DIR] [--no-build] [--out FILE]
#
#   -r, --reps N      repetitions, alternated (default 5); medians reported
#   --mib MIB         bytes of draw data per measurement (default 1024)
#   --dir DIR         directory on the disk to measure (default: bench/results)
#   --build-dir DIR   Release build to use/make (default build-bench)
#   --no-build        use the build as it is
#   --out FILE        result JSON (default bench/results/<date>-<host>-draws.json)
#
# What is measured (bench/bench_draws.cpp, bench/README.md):
#   raw              write() of 4 MiB blocks of irregular data + fsync, MIB MiB
#   none_stream      DrawFile, compression none: the same bytes of draws (the 13
#                    default fields) appended in 2^18-draw batches, finish, fsync
#   deflate_stream   the same with shuffle + deflate
#   *_with_finalise  plus write_result: the summary groups, the streamed
#                    file-checksum pass, fsync and rename
# Target (issue 3): none_stream >= 70 % of raw.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

reps=5
mib=1024
dir=bench/results
build_dir=build-bench
do_build=1
out=
orig_args=("$@")
while (($#)); do
  case $1 in
    -r | --reps) reps=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_draws: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

me=run_draws
source bench/lib.sh
if ((do_build)); then
  bench_build "$build_dir" 1
  cmake --build "$build_dir" --target bench_draws -j "$(nproc)" >/dev/null ||
    die "build failed: cmake --build $build_dir --target bench_draws"
fi
bench=$build_dir/bin/bench_draws
[[ -x $bench ]] || die "no $bench (build it, or drop --no-build)"
bench_result_path draws
mkdir -p "$dir"
free_mib=$(df -Pm "$dir" | awk 'NR == 2 {print $4}')
((free_mib > 3 * mib)) || die "$dir has $free_mib MiB free; needs about $((3 * mib)) MiB"

echo "$me: $reps reps of $mib MiB in $dir ($(df -P "$dir" | awk 'NR == 2 {print $1}'))"
measured=$("$bench" "$dir" "$mib" "$reps")
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
[[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] || dirty=true
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  printf '{"kind": "spillmc-bench-draws", "schema": 1, "date": "%s", "commit": "%s", "dirty": %s,\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$dirty"
  printf ' "command": "bench/run_draws.sh%s",\n' "${orig_args[*]:+ ${orig_args[*]}}"
  printf ' "machine": {"host": "%s", "nproc": %s, "cpu_model": "%s", "kernel": "%s",' \
    "$host" "$(nproc)" "$cpu" "$(uname -r)"
  printf ' "filesystem": "%s", "device": "%s"},\n' "$(stat -f -c %T "$dir")" \
    "$(df -P "$dir" | awk 'NR == 2 {print $1}')"
  printf ' "measurements": %s}\n' "$measured"
} >"$out"
/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null ||
  echo "$me: warning: $out is not valid JSON" >&2

/usr/bin/python3 - "$out" <<'END_PYTHON' || true
import json, sys
m = json.load(open(sys.argv[1]))["measurements"]
med, r = m["median_MB_per_s"], m["ratio_none_vs_raw"]
print(f"per-draw output, {m['bytes'] / 2**20:.0f} MiB ({m['draws']} draws x {m['bytes_per_draw']} B), "
      f"{m['reps']} reps, medians in MB/s:")
for k, v in med.items():
    print(f"  {k:22s} {v:8.0f}")
print(f"  file size: none {m['file_bytes']['none'] / 2**20:.0f} MiB, "
      f"deflate {m['file_bytes']['deflate'] / 2**20:.0f} MiB")
print(f"  none / raw: {r['of_medians']:.2f} (paired {r['median_paired']:.2f}); with the "
      f"finalisation {r['with_finalise_of_medians']:.2f}")
print(f"  target (>= 0.70 of raw, compression none): {'met' if m['target']['met'] else 'NOT met'}")
END_PYTHON
echo "$me: wrote $out"
