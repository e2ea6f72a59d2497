#!/usr/bin/python3
"""Recomputes the per-draw output of a SpillMC result file independently.

Reads /draws of a result file (docs/output.md, "Per-draw output") with h5py,
recomputes every stored output from the stored parameters with the NumPy
implementation of model.md in bench/numpy_baseline.py (written separately
from the C++), and compares:

  * status (valid, or why not) and both regimes: exactly;
  * every stored output: within rtol (default 1e-12) of a natural scale of
    its kind (|value| + M, M/b or M^2/b for prices, quantities and profits,
    M = the largest of |a|, |c|, |A1|, |A2|, |A2p|), so that a difference of
    nearly equal terms (upgrade_gain) is judged by the size of the terms;
  * NaN exactly where documented: outputs of invalid draws, A2_crit where
    a - c + A1 <= 0;
  * index: the draws the selection (all / first: N / every: K) names;
  * with draws: all, the status and regime counts against /invalid and /regimes.

Exits 0 when everything matches, 1 with one line per problem otherwise, 2
when the file cannot be checked (no /draws, parameters not stored), 77 when
h5py or NumPy is missing.

  /usr/bin/python3 tests/check_draws.py RESULT.h5 [--rtol 1e-12]
  /usr/bin/python3 tests/check_draws.py --run SPILLMC CONFIG [SPILLMC OPTIONS...]
      runs `SPILLMC run CONFIG -o TMP.h5 OPTIONS...` first, then checks TMP.h5
"""

import argparse
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"check_draws: skipped, {e}", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import numpy_baseline as nb  # noqa: E402  (the independent model)
from spillmc_run import run_then_check  # noqa: E402

PARAMS = nb.FIELDS[:nb.NUM_PARAMS]
PRICE = {"p11", "p12", "p22", "p12_up", "p22_up", "A2p_entry", "A2_crit"}
QUANTITY = {"q11", "q12", "q22", "q12_up", "q22_up"}
PROFIT = {"pi11", "pi12", "pi22", "pi12_up", "pi22_up", "upgrade_gain", "leader_loss_up"}
SLICE = 1 << 20  # draws per pass: memory does not grow with the file


class Problems:
    def __init__(self):
        self.lines = []
        self.counts = {}

    def add(self, key, text):
        n = self.counts.get(key, 0)
        self.counts[key] = n + 1
        if n < 5:
            self.lines.append(text)
        elif n == 5:
            self.lines.append(f"{key}: more mismatches follow (counted below)")


def attr_text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def expected_index(sel, n, draws, count):
    if sel == "all":
        return 0, 1, draws
    if sel == "first":
        return 0, 1, min(n, draws)
    if sel == "every":
        return 0, n, (draws - 1) // n + 1 if draws else 0
    raise SystemExit(f"check_draws: unknown selection '{sel}'")


def check(path, rtol):
    bad = Problems()
    with h5py.File(path, "r") as f:
        if "draws" not in f:
            print(f"check_draws: {path} has no /draws (was output.draws set, and does the run "
                  "write it?)", file=sys.stderr)
            return 2
        g = f["draws"]
        paper = attr_text(f.attrs["model"]) == "paper"
        draws = int(f.attrs["draws_requested"])
        sel = attr_text(g.attrs["selection"])
        sel_n = int(g.attrs["selection_n"])
        count = int(g.attrs["count"])
        missing = [p for p in PARAMS if p not in g]
        if missing:
            print(f"check_draws: {path}: /draws lacks {', '.join(missing)}; the outputs can only "
                  "be recomputed when all parameters are stored", file=sys.stderr)
            return 2
        stored = [k for k in g if k in nb.FIELDS]
        outputs = [k for k in stored if k not in PARAMS]
        first, step, want_count = expected_index(sel, sel_n, draws, count)
        if count != want_count:
            bad.add("count", f"count: /draws has {count} draws, selection '{sel}' "
                             f"({sel_n}) of {draws} names {want_count}")
        for name in ["index", "status", "regime_stage2", "regime_upgrade"] + stored:
            if g[name].shape != (count,):
                bad.add("shape", f"{name}: shape {g[name].shape}, expected ({count},)")
        if bad.lines:
            print("\n".join(bad.lines))
            return 1
        if g["index"].dtype != np.uint64:
            bad.add("dtype", f"index: dtype {g['index'].dtype}, expected uint64")
        for name in ("status", "regime_stage2", "regime_upgrade"):
            if g[name].dtype != np.int8:
                bad.add("dtype", f"{name}: dtype {g[name].dtype}, expected int8")
        for name in stored:
            if g[name].dtype != np.float64:
                bad.add("dtype", f"{name}: dtype {g[name].dtype}, expected float64")

        status_counts = np.zeros(len(nb.INVALID) + 1, dtype=np.int64)  # last: valid
        reg_counts = {"regime_stage2": np.zeros(5, np.int64), "regime_upgrade": np.zeros(5, np.int64)}
        for lo in range(0, count, SLICE):
            hi = min(count, lo + SLICE)
            idx = g["index"][lo:hi]
            want_idx = first + step * np.arange(lo, hi, dtype=np.uint64)
            for j in np.flatnonzero(idx != want_idx):
                bad.add("index", f"index[{lo + j}] = {idx[j]}, expected {want_idx[j]}")
            p = [g[name][lo:hi] for name in PARAMS]
            with np.errstate(all="ignore"):
                finite = np.isfinite(np.stack(p)).all(axis=0)
                b_ok = p[1] > 0
                values, reg2, regu, _, crit_ok = nb.evaluate(*p, paper)
                out_ok = np.isfinite(values[nb.NUM_PARAMS:]).all(axis=0)
                M = np.max(np.abs(np.stack([p[0], p[2], p[3], p[4], p[5]])), axis=0)
                absb = np.abs(p[1])
            valid = finite & b_ok & out_ok
            status = np.where(~finite, 0, np.where(~b_ok, 1, np.where(~out_ok, 2, -1)))
            got = g["status"][lo:hi]
            for j in np.flatnonzero(got != status):
                bad.add("status", f"status of draw {idx[j]}: stored {got[j]}, recomputed "
                                  f"{status[j]}")
            status_counts += np.bincount(np.where(got < 0, len(nb.INVALID), got),
                                         minlength=len(nb.INVALID) + 1)[:len(nb.INVALID) + 1]
            for name, reg in (("regime_stage2", reg2), ("regime_upgrade", regu)):
                want = np.where(valid, reg, -1)
                got_r = g[name][lo:hi]
                for j in np.flatnonzero(got_r != want):
                    bad.add(name, f"{name} of draw {idx[j]}: stored {got_r[j]}, recomputed "
                                  f"{want[j]}")
                reg_counts[name] += np.bincount(got_r[got_r >= 0], minlength=5)[:5]
            for name in outputs:
                x = g[name][lo:hi]
                y = values[nb.ORDER.index(name)]
                defined = valid & (crit_ok if name == "A2_crit" else True)
                with np.errstate(all="ignore"):
                    if name in PRICE:
                        scale = np.abs(y) + M
                    elif name in QUANTITY:
                        scale = np.abs(y) + M / absb
                    else:
                        scale = np.abs(y) + M * M / absb
                    close = np.abs(x - y) <= rtol * scale
                wrong = np.where(defined, ~close, ~np.isnan(x))
                for j in np.flatnonzero(wrong):
                    bad.add(name, f"{name} of draw {idx[j]}: stored {x[j]!r}, recomputed "
                                  f"{y[j] if defined[j] else 'NaN'!r}")

        if sel == "all" and count == draws:
            # Every draw is stored: its counts are the summary's, exactly.
            for r, reason in enumerate(nb.INVALID):
                want = int(f["invalid"][reason][()])
                if status_counts[r] != want:
                    bad.add("counts", f"status {reason}: {status_counts[r]} draws, "
                                      f"/invalid/{reason} says {want}")
            for name, grp in (("regime_stage2", "stage2"), ("regime_upgrade", "upgrade")):
                want = f["regimes"][grp][()]
                if not np.array_equal(reg_counts[name], want):
                    bad.add("counts", f"{name} counts {reg_counts[name].tolist()}, "
                                      f"/regimes/{grp} says {want.tolist()}")

    if bad.lines:
        print("\n".join(bad.lines))
        print("check_draws: mismatches: " +
              ", ".join(f"{k} {n}" for k, n in sorted(bad.counts.items())))
        return 1
    print(f"check_draws: {path}: {count} draws ({sel}), {len(outputs)} outputs, status and "
          f"regimes recomputed: all match (rtol {rtol:g})")
    return 0


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--run"]:  # by hand: everything after CONFIG goes to spillmc
        return run_then_check("check_draws", argv, lambda out: check(out, 1e-12))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--rtol", type=float, default=1e-12)
    args = ap.parse_args(argv)
    return check(args.file, args.rtol)


if __name__ == "__main__":
    sys.exit(main())
