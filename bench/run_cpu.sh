#!/usr/bin/env bash
# CPU throughput of SpillMC against the vectorised NumPy baseline, measured
# side by side in one run, plus peak memory. Writes
# bench/results/<UTC date>-<host>-cpu.json and prints a short summary.
#
#   bench/run_cpu.sh [-r REPS] [--seconds S] [--no-big] [--build-dir DIR] [--no-build]
#                    [--config FILE] [--out FILE]
#
#   -r, --reps N      repetitions of each measurement, alternated (default 5); medians reported
#   --seconds S       target wall time of one measurement; draws are calibrated to it (default 3)
#   --no-big          skip the 1e9-draw peak-memory run (minutes on a 2-core machine)
#   --build-dir DIR   Release build to use/make (default build-bench)
#   --no-build        use the build as it is
#   --config FILE     config to run (default configs/baseline.yaml)
#   --out FILE        result JSON (default bench/results/<date>-<host>-cpu.json)
#
# What is measured (bench/README.md has the details):
#   numpy_chunk1e6    bench/numpy_baseline.py, 1e6 draws per vectorised chunk
#   numpy_tuned       the same with the chunk size that is fastest here (2e4: cache-sized)
#   spillmc_1thread   spillmc run --backend cpu --threads 1
#   spillmc_threads   spillmc run --backend cpu --threads 0 (all cores)
# Every spillmc run here is summary mode (--set histograms=false), what the NumPy
# baseline computes too; bench/run_features.sh measures the analyses.
# Rates are draws / compute time as each program measures it (spillmc: the
# file's draws_per_second, i.e. run_blocks; NumPy: the chunk loop), so process
# start, imports and file writing count for neither.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

reps=5
seconds=3
big=1
build_dir=build-bench
do_build=1
config=configs/baseline.yaml
out=
orig_args=("$@")
while (($#)); do
  case $1 in
    -r | --reps) reps=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --no-big) big=0; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_cpu: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

me=run_cpu
source bench/lib.sh
bench_python numpy h5py yaml
[[ -x /usr/bin/time ]] || die "needs /usr/bin/time for peak memory: run scripts/setup.sh"
[[ -f $config ]] || die "no config '$config'"
bench_build "$build_dir" "$do_build"
bench_result_path cpu

export RUN_CPU_BIN=$bin RUN_CPU_CONFIG=$config RUN_CPU_REPS=$reps RUN_CPU_SECONDS=$seconds
export RUN_CPU_BIG=$big RUN_CPU_OUT=$out RUN_CPU_STAMP=$stamp RUN_CPU_HOST=$host
export RUN_CPU_COMMAND="bench/run_cpu.sh${orig_args[*]:+ ${orig_args[*]}}"
exec "$python" - <<'END_PYTHON'
import atexit, json, os, re, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "bench")
from benchmeta import cpu_model, provenance  # noqa: E402

import h5py
import numpy as np

env = os.environ
BIN, CONFIG = env["RUN_CPU_BIN"], env["RUN_CPU_CONFIG"]
REPS, SECONDS = int(env["RUN_CPU_REPS"]), float(env["RUN_CPU_SECONDS"])
BIG, OUT = env["RUN_CPU_BIG"] == "1", env["RUN_CPU_OUT"]
PY = sys.executable
NPROC = os.cpu_count()
TUNED_CHUNK = 20000
BLOCK = 65536
tmp = tempfile.mkdtemp(prefix="spillmc-bench-")
atexit.register(shutil.rmtree, tmp, True)


def sh(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"run_cpu: failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return p


def spillmc(draws, threads):
    h5 = os.path.join(tmp, "s.h5")
    sh([BIN, "run", CONFIG, "--draws", str(draws), "--backend", "cpu", "--threads", str(threads),
        "--set", "histograms=false", "-o", h5, "--force", "--quiet"])
    with h5py.File(h5, "r") as f:
        return float(f.attrs["draws_per_second"])


def numpy(draws, chunk):
    js = os.path.join(tmp, "n.json")
    sh([PY, "bench/numpy_baseline.py", "--config", CONFIG, "--draws", str(draws),
        "--chunk", str(chunk), "--json", js, "--quiet"])
    with open(js) as f:
        return float(json.load(f)["draws_per_second"])


variants = {
    "numpy_chunk1e6": dict(run=lambda n: numpy(n, 1000000), probe=2000000, quantum=1000000,
                           what="bench/numpy_baseline.py --chunk 1e6 (NumPy, 1 core)"),
    "numpy_tuned": dict(run=lambda n: numpy(n, TUNED_CHUNK), probe=2000000, quantum=1000000,
                        what=f"bench/numpy_baseline.py --chunk {TUNED_CHUNK} (NumPy, 1 core)"),
    "spillmc_1thread": dict(run=lambda n: spillmc(n, 1), probe=1 << 21, quantum=BLOCK,
                            what="spillmc run --backend cpu --threads 1"),
    "spillmc_threads": dict(run=lambda n: spillmc(n, 0), probe=1 << 22, quantum=BLOCK,
                            what=f"spillmc run --backend cpu --threads 0 ({NPROC} threads)"),
}

# Calibrate (and warm up): draws for ~SECONDS per measurement, in whole blocks or
# chunks, and at least 3 of them (a single 1e6 chunk times allocation more than work).
for name, v in variants.items():
    rate = v["run"](v["probe"])
    q = v["quantum"]
    v["draws"] = max(3 * q, int(rate * SECONDS) // q * q)
    v["rates"] = []
    print(f"run_cpu: {name:16s} ~{rate:10.4g} draws/s -> {v['draws']} draws per measurement",
          flush=True)

load_start = os.getloadavg()
names = list(variants)
for r in range(REPS):
    order = names[r % len(names):] + names[:r % len(names)]  # rotate: no variant always first
    for name in order:
        v = variants[name]
        v["rates"].append(v["run"](v["draws"]))
    print(f"run_cpu: rep {r + 1}/{REPS}: " +
          ", ".join(f"{n} {variants[n]['rates'][-1]:.3g}" for n in names), flush=True)
load_end = os.getloadavg()


def max_rss_mib(cmd):
    p = sh(["/usr/bin/time", "-v"] + cmd)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return int(m.group(1)) / 1024.0


def spill_cmd(draws):
    return [BIN, "run", CONFIG, "--draws", str(draws), "--backend", "cpu", "--set",
            "histograms=false", "-o", os.path.join(tmp, "m.h5"), "--force", "--quiet"]


memory = {}
print("run_cpu: peak memory at 1e7 draws", flush=True)
memory["spillmc_1e7_max_rss_mib"] = max_rss_mib(spill_cmd(10**7))
memory["numpy_chunk1e6_1e7_max_rss_mib"] = max_rss_mib(
    [PY, "bench/numpy_baseline.py", "--config", CONFIG, "--draws", "1e7", "--quiet"])
memory["numpy_tuned_1e7_max_rss_mib"] = max_rss_mib(
    [PY, "bench/numpy_baseline.py", "--config", CONFIG, "--draws", "1e7", "--chunk",
     str(TUNED_CHUNK), "--quiet"])
if BIG:
    est = 1e9 / statistics.median(variants["spillmc_threads"]["rates"])
    print(f"run_cpu: peak memory at 1e9 draws (about {est / 60:.1f} min)", flush=True)
    t0 = time.time()
    memory["spillmc_1e9_max_rss_mib"] = max_rss_mib(spill_cmd(10**9))
    memory["spillmc_1e9_wall_seconds"] = time.time() - t0
else:
    memory["spillmc_1e9_max_rss_mib"] = None

# --- results -------------------------------------------------------------------------
meas = {}
for name, v in variants.items():
    meas[name] = {"what": v["what"], "draws": v["draws"], "draws_per_second": v["rates"],
                  "median": statistics.median(v["rates"])}
meas["spillmc_threads"]["threads"] = NPROC
med = {n: m["median"] for n, m in meas.items()}
# The baseline a ratio is taken against: the faster NumPy variant (the conservative choice).
base = max(("numpy_chunk1e6", "numpy_tuned"), key=lambda n: med[n])


def paired(num, den):  # median of the per-repetition ratios (same rep, side by side)
    return statistics.median(a / b for a, b in zip(meas[num]["draws_per_second"],
                                                   meas[den]["draws_per_second"]))


ratios = {"baseline": base}
for s in ("spillmc_threads", "spillmc_1thread"):
    for n in ("numpy_tuned", "numpy_chunk1e6"):
        ratios[f"{s}/{n}"] = {"of_medians": med[s] / med[n], "median_paired": paired(s, n)}
ratios["all_threads_vs_numpy"] = med["spillmc_threads"] / med[base]
ratios["one_thread_vs_numpy"] = med["spillmc_1thread"] / med[base]
ratios["thread_scaling"] = med["spillmc_threads"] / med["spillmc_1thread"]

rss7, rss9 = memory["spillmc_1e7_max_rss_mib"], memory["spillmc_1e9_max_rss_mib"]
targets = {
    "cpu_25x_numpy": {"target": ">= 25x the NumPy baseline, all threads",
                      "measured": ratios["all_threads_vs_numpy"],
                      "met": ratios["all_threads_vs_numpy"] >= 25.0},
    "memory_1e9_under_100MiB": {"target": "peak RSS of a 1e9-draw run < 100 MiB",
                                "measured": rss9, "met": None if rss9 is None else rss9 < 100.0},
    "memory_independent_of_draws": {
        "target": "peak RSS at 1e9 draws within 10 % (+4 MiB) of 1e7 draws",
        "measured": None if rss9 is None else rss9 / rss7,
        "met": None if rss9 is None else rss9 <= 1.1 * rss7 + 4.0},
}




result = {
    "kind": "spillmc-bench-cpu",
    "schema": 1,
    **provenance(),
    "command": env["RUN_CPU_COMMAND"],
    "config": CONFIG,
    "machine": {"host": env["RUN_CPU_HOST"], "nproc": NPROC, "cpu_model": cpu_model(),
                "kernel": os.uname().release, "loadavg_start": load_start,
                "loadavg_end": load_end},
    "software": {"spillmc": sh([BIN, "--version"]).stdout.strip(),
                 "numpy": np.__version__, "python": sys.version.split()[0]},
    "reps": REPS,
    "seconds_per_measurement": SECONDS,
    "measurements": meas,
    "ratios": ratios,
    "memory": memory,
    "targets": targets,
}
with open(OUT, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")

yes = {True: "met", False: "NOT met", None: "not measured"}
print()
print(f"SpillMC CPU benchmark, {CONFIG}, {REPS} reps side by side, medians "
      f"({NPROC} cores, {cpu_model()}, load {load_start[0]:.1f} -> {load_end[0]:.1f})")
for n, m in meas.items():
    print(f"  {n:16s} {m['median']:11.4g} draws/s   ({m['what']})")
print(f"  spillmc all threads / NumPy ({base}): {ratios['all_threads_vs_numpy']:.2f}x   "
      f"1 thread: {ratios['one_thread_vs_numpy']:.2f}x   thread scaling "
      f"{ratios['thread_scaling']:.2f}x")
print(f"  peak RSS spillmc: 1e7 draws {rss7:.1f} MiB, 1e9 draws "
      f"{'-' if rss9 is None else f'{rss9:.1f}'} MiB; NumPy 1e7 draws "
      f"{memory['numpy_chunk1e6_1e7_max_rss_mib']:.0f} MiB (chunk 1e6), "
      f"{memory['numpy_tuned_1e7_max_rss_mib']:.0f} MiB (chunk {TUNED_CHUNK})")
for k, t in targets.items():
    print(f"  target {k}: {yes[t['met']]} ({t['target']})")
print(f"run_cpu: wrote {OUT}")
END_PYTHON
