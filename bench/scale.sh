#!/usr/bin/env bash
# Scaling on this machine: strong and weak scaling over MPI ranks and threads,
# the time to merge as the number of shards grows, and the time to checkpoint
# (when the binary has --resume). Writes bench/results/<UTC date>-<host>-scale.json.
#
#   bench/scale.sh [-r REPS] [--build-dir DIR] [--no-build] [--config FILE] [--out FILE]
#                  [--strong-draws N] [--weak-draws N] [--merge-segments S]
#
#   -r, --reps N         repetitions of each scaling measurement (default 2); medians reported
#   --build-dir DIR      Release build to use/make (default build-bench)
#   --no-build           use the build as it is
#   --strong-draws N     draws of the strong-scaling runs (default 2e8)
#   --weak-draws N       draws per rank of the weak-scaling runs (default 1e8)
#   --merge-segments S   segments (2^26 draws each) of the run that is sharded (default 2)
#
# About 3 minutes on the 2-core development VM. bench/README.md explains the figures.
# Rates are draws / compute time as spillmc measures it (the file's
# draws_per_second: run_blocks, including the MPI gathers); wall times include
# process start (and mpirun's) and writing the file.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

reps=2
build_dir=build-bench
do_build=1
config=configs/baseline.yaml
out=
strong=200000000
weak=100000000
segments=2
orig_args=("$@")
while (($#)); do
  case $1 in
    -r | --reps) reps=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --strong-draws) strong=$2; shift 2 ;;
    --weak-draws) weak=$2; shift 2 ;;
    --merge-segments) segments=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

me=scale
source bench/lib.sh
bench_python h5py
mpirun=$(command -v mpirun || true)
bench_build "$build_dir" "$do_build"
bench_result_path scale

export SCALE_BIN=$bin SCALE_CONFIG=$config SCALE_REPS=$reps SCALE_OUT=$out SCALE_MPIRUN=$mpirun
export SCALE_STRONG=$strong SCALE_WEAK=$weak SCALE_SEGMENTS=$segments SCALE_HOST=$host
export SCALE_COMMAND="bench/scale.sh${orig_args[*]:+ ${orig_args[*]}}"
exec "$python" - <<'END_PYTHON'
import atexit, glob, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "bench")
from benchmeta import provenance  # noqa: E402

import h5py

env = os.environ
BIN, CONFIG, OUT = env["SCALE_BIN"], env["SCALE_CONFIG"], env["SCALE_OUT"]
REPS, MPIRUN = int(env["SCALE_REPS"]), env["SCALE_MPIRUN"]
STRONG, WEAK = int(float(env["SCALE_STRONG"])), int(float(env["SCALE_WEAK"]))
SEGMENTS = int(env["SCALE_SEGMENTS"])
SEGMENT = 1 << 26
NPROC = os.cpu_count()
tmp = tempfile.mkdtemp(prefix="spillmc-scale-")
atexit.register(shutil.rmtree, tmp, True)
BASE = ["run", CONFIG, "--backend", "cpu", "--seed", "1", "--force", "--quiet"]


def sh(cmd, **kw):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"scale: failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()}")
    return p, wall


def run(draws, ranks, threads):
    h5 = os.path.join(tmp, "s.h5")
    cmd = [BIN] + BASE + ["--draws", str(draws), "--threads", str(threads), "-o", h5]
    if ranks > 0:  # under mpirun (ranks = 1 too: the MPI path with one rank)
        cmd = [MPIRUN, "-n", str(ranks), "--oversubscribe", "--allow-run-as-root", "--bind-to",
               "none"] + cmd
    _, wall = sh(cmd)
    with h5py.File(h5, "r") as f:
        return float(f.attrs["draws_per_second"]), wall


def measure(name, draws, ranks, threads, what):
    rates, walls = [], []
    for _ in range(REPS):
        r, w = run(draws, ranks, threads)
        rates.append(r)
        walls.append(w)
    m = statistics.median(rates)
    per = m / max(1, ranks) if ranks > 0 else m / threads
    print(f"scale: {name:22s} {m:10.4g} draws/s ({per:.4g} per rank/thread), wall "
          f"{statistics.median(walls):.2f} s", flush=True)
    return {"what": what, "draws": draws, "ranks": max(ranks, 1), "threads_per_rank": threads,
            "draws_per_second": rates, "median": m, "median_per_worker": per,
            "wall_seconds": walls, "median_wall_seconds": statistics.median(walls)}


load_start = os.getloadavg()
run(1 << 20, 0, 0)  # warm up (page cache, CPU frequency)
strong, weak = {}, {}
strong["threads1"] = measure("strong threads 1", STRONG, 0, 1, "1 process, --threads 1")
strong["threads2"] = measure("strong threads 2", STRONG, 0, 2, "1 process, --threads 2")
if MPIRUN:
    strong["ranks1"] = measure("strong ranks 1", STRONG, 1, 1, "mpirun -n 1, --threads 1")
    strong["ranks2"] = measure("strong ranks 2", STRONG, 2, 1, "mpirun -n 2, --threads 1 each")
    weak["ranks1"] = measure("weak ranks 1", WEAK, 1, 1, "mpirun -n 1, --threads 1")
    weak["ranks2"] = measure("weak ranks 2", 2 * WEAK, 2, 1, "mpirun -n 2, --threads 1 each")
for d in (strong, weak):
    for k in ("threads", "ranks"):
        if f"{k}1" in d and f"{k}2" in d:
            a, b = d[f"{k}1"], d[f"{k}2"]
            d[f"speedup_{k}_2_vs_1"] = b["median"] / a["median"]
            d[f"efficiency_{k}_2"] = b["median"] / a["median"] / 2
            d[f"wall_ratio_{k}_1_over_2"] = a["median_wall_seconds"] / b["median_wall_seconds"]

# --- merge time against the shard count -------------------------------------------
merge = {"segments": SEGMENTS, "draws": SEGMENTS * SEGMENT, "shards": {}}
print(f"scale: merge: a run of {SEGMENTS} segments ({SEGMENTS * SEGMENT} draws) in "
      "1, 4, 16, 64 shards", flush=True)
for n in (1, 4, 16, 64):
    d = os.path.join(tmp, f"m{n}")
    os.mkdir(d)
    t0 = time.perf_counter()
    for i in range(n):
        sh([BIN] + BASE + ["--draws", str(SEGMENTS * SEGMENT), "--threads", "0", "--shard",
                           f"{i}/{n}", "--set", f"output.path={d}/r.h5"])
    shard_wall = time.perf_counter() - t0
    shards = sorted(glob.glob(f"{d}/r.shard-*.h5"))
    walls = []
    for _ in range(3):
        _, w = sh([BIN, "merge"] + shards + ["-o", f"{d}/merged.h5", "--force"])
        walls.append(w)
    _, vwall = sh([BIN, "verify", f"{d}/merged.h5"])
    sizes = [os.path.getsize(s) for s in shards]
    row = {"shards": n, "nonempty_shards": min(n, SEGMENTS),
           "merge_wall_seconds": walls, "median_merge_wall_seconds": statistics.median(walls),
           "verify_wall_seconds": vwall, "shard_runs_wall_seconds": shard_wall,
           "shard_bytes_total": sum(sizes), "shard_bytes_max": max(sizes),
           "shard_bytes_min": min(sizes), "merged_bytes": os.path.getsize(f"{d}/merged.h5")}
    merge["shards"][str(n)] = row
    print(f"scale: merge {n:2d} shards: {row['median_merge_wall_seconds']:.3f} s "
          f"(verify {vwall:.3f} s), shards {sum(sizes) / 1024:.0f} KiB in all, "
          f"result {row['merged_bytes'] / 1024:.0f} KiB", flush=True)
    shutil.rmtree(d)

# --- checkpoint ----------------------------------------------------------------------
helptext = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True).stdout
checkpoint = {"available": "--resume" in helptext}
if checkpoint["available"]:
    # A long run with checkpoint.every=1: SIGUSR1 after 3 s; time from the signal
    # to the checkpointed exit (the block in hand, then the checkpoint write).
    rows = []
    for _ in range(3):
        h5 = os.path.join(tmp, "c.h5")
        cmd = [BIN] + BASE + ["--draws", str(64 * SEGMENT), "--threads", "0", "-o", h5,
                              "--set", "checkpoint.every=1"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        t0 = time.perf_counter()
        p.send_signal(signal.SIGUSR1)
        _, err = p.communicate()
        dt = time.perf_counter() - t0
        files = [f for f in os.listdir(tmp) if "ckpt" in f or "checkpoint" in f]
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in files)
        rows.append({"signal_to_exit_seconds": dt, "exit_code": p.returncode,
                     "checkpoint_files": files, "checkpoint_bytes": size})
        for f in files:
            os.remove(os.path.join(tmp, f))
        print(f"scale: checkpoint: SIGUSR1 -> exit {p.returncode} in {dt:.3f} s, "
              f"{size} bytes in {files}", flush=True)
    checkpoint["runs"] = rows
    checkpoint["median_signal_to_exit_seconds"] = statistics.median(
        r["signal_to_exit_seconds"] for r in rows)
else:
    checkpoint["note"] = "this binary has no --resume (checkpointing not built in): not measured"
    print("scale: checkpoint: not available in this binary, not measured", flush=True)
load_end = os.getloadavg()



mpiver = ""
if MPIRUN:
    mpiver = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True).stdout
    mpiver = mpiver.splitlines()[0] if mpiver else ""
result = {
    "kind": "spillmc-bench-scale", "schema": 1,
    **provenance(),
    "command": env["SCALE_COMMAND"], "config": CONFIG,
    "machine": {"host": env["SCALE_HOST"], "nproc": NPROC, "kernel": os.uname().release,
                "loadavg_start": load_start, "loadavg_end": load_end},
    "software": {"spillmc": sh([BIN, "--version"])[0].stdout.strip(), "mpirun": mpiver},
    "reps": REPS, "strong": strong, "weak": weak, "merge": merge, "checkpoint": checkpoint,
}
with open(OUT, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
print(f"scale: wrote {OUT}")
END_PYTHON
