#!/usr/bin/env bash
# Cost of the analyses of issues 3 and 4 on one backend, measured side by side
# in one run: histograms, conditions, paths, correlation, sensitivity, per-draw
# output and a sweep, each against a plain run. Writes
# bench/results/features_<backend>_<UTC date>.json and prints a table (and, with
# --markdown, the same as a Markdown table).
#
#   bench/run_features.sh [--backend cpu|cuda] [-r REPS] [--seconds S] [--build-dir DIR]
#                         [--no-build] [--out FILE] [--markdown]
#
#   --backend B       cpu (default) or cuda (sensitivity too runs on the chosen backend)
#   -r, --reps N      repetitions of each measurement, alternated (default 5); medians reported
#   --seconds S       target wall time of one measurement; draws are calibrated to it (default 2)
#   --build-dir DIR   Release build to use/make (default build-bench)
#   --no-build        use the build as it is
#   --out FILE        result JSON (default bench/results/features_cpu_<UTC date>.json)
#   --markdown        also print the table as Markdown (for docs/bench_features.md)
#
# What is measured (all `spillmc run CONFIG --backend B -q -o TMP --force`, all cores):
#   plain               configs/baseline.yaml, histograms=false: the reference
#   histograms          configs/baseline.yaml as it is (default histograms: 19 outputs, 1000 bins)
#   conditions          plain + conditions=[leader_gains, upgrade_gain_positive]
#   paths_off / paths   configs/paths.yaml, histograms=false, without (paths=~) / with its 4 paths
#   correlation_off /   configs/correlated.yaml, histograms=false, without (correlation=~) / with
#   correlation         its Gaussian copula
#   sensitivity         plain + sensitivity {outputs: [upgrade_gain, upgrade_gain_positive],
#                       base_draws: B} with --draws 1: model evaluations (the file's
#                       /sensitivity attribute `evaluations`) per second of the run
#   draws               plain + output.draws=all (13 default fields, no compression)
#                       written to the temporary directory: end-to-end per-draw output
#   sweep               configs/study_upgrade.yaml with sweep.draws_per_cell reduced:
#                       cells x draws per cell per second
#   sparse              plain with b ~ uniform(-999, 1): 1 draw in 1 000 valid, so a
#                       block's shifts (docs/design.md) come from far into the block
#   nearly_invalid      plain with b ~ uniform(-999999, 1): most blocks have no valid draw
# Rates are the file's draws_per_second (draws / the run's wall_seconds: process
# start and reading the config excluded); sensitivity uses evaluations / wall_seconds.
# Ratios are to the plain run (and, for paths and correlation, to the same config
# without the feature); "median_paired" is the median of per-repetition ratios.
# A variant whose command fails is recorded with its error, not a number.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

reps=5
seconds=2
backend=cpu
build_dir=build-bench
do_build=1
out=
markdown=0
orig_args=("$@")
while (($#)); do
  case $1 in
    -r | --reps) reps=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --out) out=$2; shift 2 ;;
    --markdown) markdown=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_features: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

[[ $backend == cpu || $backend == cuda ]] || { echo "run_features: --backend takes cpu or cuda" >&2; exit 2; }
me=run_features
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_python json  # h5py is used when present; else `spillmc inspect --json` (GPU machines)
bench_build "$build_dir" "$do_build"
# lib.sh names results <stamp>-<host>-KIND.json; this one is features_<backend>_<stamp>.json.
default_out=$([[ -z $out ]] && echo 1 || echo 0)
bench_result_path features
((default_out)) && out=bench/results/features_${backend}_$stamp.json

export FEAT_BIN=$bin FEAT_REPS=$reps FEAT_SECONDS=$seconds FEAT_OUT=$out FEAT_HOST=$host
export FEAT_MARKDOWN=$markdown FEAT_BACKEND=$backend
export FEAT_COMMAND="bench/run_features.sh${orig_args[*]:+ ${orig_args[*]}}"
exec "$python" - <<'END_PYTHON'
import atexit, json, os, re, shlex, shutil, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, "bench")
from benchmeta import cpu_model, provenance  # noqa: E402

try:
    import h5py
except ImportError:  # e.g. a GPU machine with only the carried .debs: read attributes via inspect
    h5py = None

env = os.environ
BIN, OUT = env["FEAT_BIN"], env["FEAT_OUT"]
REPS, SECONDS = int(env["FEAT_REPS"]), float(env["FEAT_SECONDS"])
BACKEND = env["FEAT_BACKEND"]
NPROC = os.cpu_count()
BLOCK = 65536  # spillmc's block: draw counts are whole blocks
tmp = tempfile.mkdtemp(prefix="spillmc-features-")
atexit.register(shutil.rmtree, tmp, True)
H5 = os.path.join(tmp, "f.h5")

NOHIST = ["--set", "histograms=false"]
SENS = "sensitivity={outputs: [upgrade_gain, upgrade_gain_positive], base_draws: %d}"


class Failed(Exception):
    pass


def spillmc(args):
    """Runs spillmc with args; returns (file attributes, sensitivity attributes, wall)."""
    cmd = [BIN, "run"] + args + ["--backend", BACKEND, "-q", "-o", H5, "--force"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise Failed(f"exit {p.returncode}: {p.stderr.strip()[-600:]}")
    if h5py is not None:
        with h5py.File(H5, "r") as f:
            attrs = {k: v for k, v in f.attrs.items() if k != "config"}
            sens = dict(f["sensitivity"].attrs) if "sensitivity" in f else None
        return attrs, sens, wall
    q = subprocess.run([BIN, "inspect", H5, "--json"], capture_output=True, text=True)
    if q.returncode != 0:
        raise Failed(f"inspect exit {q.returncode}: {q.stderr.strip()[-300:]}")
    attrs = json.loads(q.stdout)["attributes"]
    sens = None
    m = re.search(r"base_draws: (\d+)", attrs.get("config", ""))
    if m:  # the design's evaluations: base draws x (sampled parameters + 2), docs/sensitivity.md
        k = len(re.findall(r"\{dist: ", re.split(r"\n\S", attrs["config"].split("parameters:")[1])[0]))
        sens = {"evaluations": int(m.group(1)) * (k + 2)}
    return attrs, sens, wall


# Each variant: args(n) for a size n, the size of the probe, how n scales, and what the
# rate counts. rate(attrs, sens) -> units per second of the run's wall_seconds.
def draws_rate(a, _s):
    return float(a["draws_per_second"])


def evals_rate(a, s):
    if s is None or "evaluations" not in s:
        raise Failed("no /sensitivity group with an 'evaluations' attribute in the output")
    return float(s["evaluations"]) / float(a["wall_seconds"])


def sweep_rate(a, _s):  # cells x draws per cell, per second
    return float(a["draws_requested"]) / float(a["wall_seconds"])


V = {}


def variant(name, what, args, probe, quantum, rate=draws_rate, unit="draws/s", size="draws",
            vs=None):
    V[name] = dict(what=what, args=args, probe=probe, quantum=quantum, rate=rate, unit=unit,
                   size_name=size, vs=vs)


base, paths, corr, study = ("configs/baseline.yaml", "configs/paths.yaml",
                            "configs/correlated.yaml", "configs/study_upgrade.yaml")
variant("plain", "baseline.yaml, histograms off (reference)",
        lambda n: [base, "--draws", str(n)] + NOHIST, 1 << 23, BLOCK)
variant("histograms", "baseline.yaml, default histograms (19 outputs x 1000 bins)",
        lambda n: [base, "--draws", str(n)], 1 << 22, BLOCK)
variant("conditions", "baseline.yaml + conditions [leader_gains, upgrade_gain_positive]",
        lambda n: [base, "--draws", str(n)] + NOHIST +
        ["--set", "conditions=[leader_gains, upgrade_gain_positive]"], 1 << 22, BLOCK)
variant("paths_off", "paths.yaml without paths (paths=~), histograms off",
        lambda n: [paths, "--draws", str(n)] + NOHIST + ["--set", "paths=~"], 1 << 23, BLOCK)
variant("paths", "paths.yaml (4 paths), histograms off",
        lambda n: [paths, "--draws", str(n)] + NOHIST, 1 << 21, BLOCK, vs="paths_off")
variant("correlation_off", "correlated.yaml without correlation (correlation=~), histograms off",
        lambda n: [corr, "--draws", str(n)] + NOHIST + ["--set", "correlation=~"], 1 << 23, BLOCK)
variant("correlation", "correlated.yaml (3 pairs, Gaussian copula), histograms off",
        lambda n: [corr, "--draws", str(n)] + NOHIST, 1 << 21, BLOCK, vs="correlation_off")
variant("sensitivity", "baseline.yaml + sensitivity [upgrade_gain, upgrade_gain_positive], "
        "--draws 1; rate = model evaluations / s",
        lambda n: [base, "--draws", "1"] + NOHIST + ["--set", SENS % n], 200000, 100000,
        rate=evals_rate, unit="evals/s", size="base_draws")
variant("draws", "baseline.yaml + output.draws=all (13 fields, no compression), histograms off",
        lambda n: [base, "--draws", str(n)] + NOHIST + ["--set", "output.draws=all"], 1 << 21,
        BLOCK)
variant("sweep", "study_upgrade.yaml (65 x 41 cells), draws_per_cell reduced; "
        "rate = cells x draws per cell / s",
        lambda n: [study, "--set", f"sweep.draws_per_cell={n}"], 1000, 100,
        rate=sweep_rate, unit="cell draws/s", size="draws_per_cell")

SPARSE_B = "parameters.b={dist: uniform, low: %s, high: 1}"
variant("sparse", "baseline.yaml, histograms off, b ~ uniform(-999, 1): 1 valid draw in 1 000",
        lambda n: [base, "--draws", str(n)] + NOHIST + ["--set", SPARSE_B % "-999"], 1 << 23, BLOCK)
variant("nearly_invalid", "baseline.yaml, histograms off, b ~ uniform(-999999, 1): "
        "1 valid draw in 1e6",
        lambda n: [base, "--draws", str(n)] + NOHIST + ["--set", SPARSE_B % "-999999"], 1 << 23,
        BLOCK)

device = None


def measure(v, n):
    global device
    a, s, wall = spillmc(v["args"](n))
    device = device or str(a.get("device", ""))
    r = v["rate"](a, s)
    v["walls"].append(wall)
    v["run_walls"].append(float(a["wall_seconds"]))
    if s is not None:
        v["evaluations"] = int(s.get("evaluations", 0))
    return r


# Calibrate (and warm up): a size for ~SECONDS per measurement, in whole quanta.
for name, v in V.items():
    v.update(rates=[], walls=[], run_walls=[], error=None)
    try:
        a, s, _ = spillmc(v["args"](v["probe"]))
        run_s = float(a["wall_seconds"])
        q = v["quantum"]
        v["size"] = max(q, int(v["probe"] * SECONDS / run_s) // q * q)
        print(f"run_features: {name:16s} probe {v['size_name']}={v['probe']} took {run_s:.3f} s "
              f"-> {v['size_name']}={v['size']}", flush=True)
    except Failed as e:
        v["error"] = str(e)
        print(f"run_features: {name:16s} FAILED: {e}", flush=True)

load_start = os.getloadavg()
names = [n for n in V if V[n]["error"] is None]
for r in range(REPS):
    order = names[r % len(names):] + names[:r % len(names)]  # rotate: no variant always first
    for name in order:
        v = V[name]
        if v["error"] is not None:
            continue
        try:
            v["rates"].append(measure(v, v["size"]))
        except Failed as e:  # a failure after a good probe: keep the error, drop the variant
            v["error"] = f"rep {r + 1}: {e}"
    print(f"run_features: rep {r + 1}/{REPS}: " +
          ", ".join(f"{n} {V[n]['rates'][-1]:.3g}" for n in names if V[n]["error"] is None),
          flush=True)
load_end = os.getloadavg()

ok = lambda n: V[n]["error"] is None and V[n]["rates"]


def paired(num, den):  # median of the per-repetition ratios (same rep, side by side)
    return statistics.median(a / b for a, b in zip(V[num]["rates"], V[den]["rates"]))


meas = {}
for name, v in V.items():
    m = {"what": v["what"], "command": shlex.join(
        ["spillmc", "run"] + v["args"](v.get("size", v["probe"])) +
        ["--backend", BACKEND, "-q", "-o", "TMP.h5", "--force"]), "unit": v["unit"]}
    if not ok(name):
        m.update(status="failed", error=v["error"])
        meas[name] = m
        continue
    m.update(status="ok", size_name=v["size_name"], size=v["size"], rates=v["rates"],
             median=statistics.median(v["rates"]), process_wall_seconds=v["walls"],
             run_wall_seconds=v["run_walls"],
             median_run_wall_seconds=statistics.median(v["run_walls"]))
    if "evaluations" in v:
        m["evaluations"] = v["evaluations"]
    if name == "sweep":
        m["cells"] = 65 * 41
    if name != "plain" and ok("plain"):
        m["vs_plain"] = {"of_medians": m["median"] / statistics.median(V["plain"]["rates"]),
                         "median_paired": paired(name, "plain")}
        if v["unit"] == "draws/s":  # the feature's own cost per draw, over the plain run's
            m["extra_ns_per_draw_vs_plain"] = 1e9 / m["median"] - 1e9 / meas["plain"]["median"]
    if v["vs"] and ok(v["vs"]):
        m["vs_" + v["vs"]] = {"of_medians": m["median"] / statistics.median(V[v["vs"]]["rates"]),
                              "median_paired": paired(name, v["vs"])}
        m["extra_ns_per_draw_vs_" + v["vs"]] = 1e9 / m["median"] - 1e9 / meas[v["vs"]]["median"]
    meas[name] = m




result = {
    "kind": "spillmc-bench-features",
    "schema": 1,
    **provenance(),
    "command": env["FEAT_COMMAND"],
    "backend": BACKEND,
    "device": device,
    "machine": {"host": env["FEAT_HOST"], "nproc": NPROC, "cpu_model": cpu_model(),
                "kernel": os.uname().release, "loadavg_start": load_start,
                "loadavg_end": load_end},
    "software": {"spillmc": subprocess.run([BIN, "--version"], capture_output=True,
                                           text=True).stdout.strip()},
    "reps": REPS,
    "seconds_per_measurement": SECONDS,
    "measurements": meas,
}
with open(OUT, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")


def row(n):
    m = meas[n]
    if m["status"] != "ok":
        return [n, "FAILED", "", "-", "-", m["error"].splitlines()[0][:60]]
    vp = m.get("vs_plain", {}).get("median_paired")
    own = next((m[k]["median_paired"] for k in m if k.startswith("vs_") and k != "vs_plain"),
               None)
    ownname = next((k[3:] for k in m if k.startswith("vs_") and k != "vs_plain"), "")
    return [n, f"{m['median']:.4g}", m["unit"], "1" if n == "plain" else f"{vp:.3f}",
            f"{own:.3f} (vs {ownname})" if own is not None else "-",
            f"{m['size_name']}={m['size']}"]


hdr = ["variant", "median", "unit", "/ plain", "/ own baseline", "size"]
rows = [row(n) for n in V]
print()
print(f"SpillMC feature costs, {BACKEND} backend ({device}; {NPROC} cores, {cpu_model()}), "
      f"{REPS} reps side by side, medians; load {load_start[0]:.1f} -> {load_end[0]:.1f}")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
for r in [hdr] + rows:
    print("  " + "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)))
if env["FEAT_MARKDOWN"] == "1":
    print()
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
print(f"run_features: wrote {OUT}")
END_PYTHON
