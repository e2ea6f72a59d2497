#!/usr/bin/python3
"""The SpillMC job written the way a researcher would write it in vectorised NumPy.

It reads a SpillMC config (docs/config.md), samples the parameters with NumPy's
own generator (numpy.random.default_rng(seed): it does not reproduce SpillMC's
Philox numbers, only their distribution) in chunks, evaluates the constrained
model of model.md with np.where/np.select (all five Stackelberg regimes, stage 1,
stage 2, the upgrade, A2_crit with its undefined case, the five events) and
reduces the same statistics as `spillmc run`: count/mean/std/sem/min/max of the
25 fields, event counts, regime counts, invalid counts.

Two uses:
  * the baseline of bench/run_cpu.sh: prints (and with --json records) draws/s;
  * an independent second implementation: --check RESULT.h5 compares its means,
    event probabilities and regime/invalid proportions with a spillmc result
    file within 5 combined standard errors and exits 1 on any disagreement.

Examples:
  /usr/bin/python3 bench/numpy_baseline.py --config configs/baseline.yaml --draws 1e7
  build/bin/spillmc run configs/baseline.yaml -o /tmp/b.h5 --force
  /usr/bin/python3 bench/numpy_baseline.py --check /tmp/b.h5   # config taken from the file
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

try:  # Debian's python3-scipy; used only for the truncated normal's inverse CDF
    from scipy.special import ndtr, ndtri
except ImportError:  # pragma: no cover - fallback by rejection
    ndtr = ndtri = None

import yaml  # Debian's python3-yaml

FIELDS = [
    "a", "b", "c", "A1", "A2", "A2p",
    "q11", "p11", "pi11",
    "q12", "q22", "p12", "p22", "pi12", "pi22",
    "q12_up", "q22_up", "p12_up", "p22_up", "pi12_up", "pi22_up",
    "A2_crit", "upgrade_gain", "leader_loss_up", "A2p_entry",
]
NUM_PARAMS = 6
# evaluate() stacks the fields in this order: A2_crit, reduced over its own mask, comes last so
# that the other 24 rows are a view, not a copy.
ORDER = [f for f in FIELDS if f != "A2_crit"] + ["A2_crit"]
EVENTS = ["leader_gains", "spillover_condition", "follower_active", "follower_active_up",
          "upgrade_gain_positive"]
REGIMES = ["both_active", "limit_output", "leader_monopoly", "follower_monopoly",
           "nobody_produces"]
INVALID = ["nonfinite_parameter", "b_nonpositive", "nonfinite_output"]

SQRT2_PLUS_1 = 2.4142135623730950488
SQRT2_MINUS_1 = 0.41421356237309504880

# Distribution fields in the config, in order (docs/config.md); beta's bounds default to [0, 1].
DIST_FIELDS = {
    "fixed": ["value"],
    "uniform": ["low", "high"],
    "normal": ["mean", "sd"],
    "truncnormal": ["mean", "sd", "low", "high"],
    "lognormal": ["meanlog", "sdlog"],
    "triangular": ["low", "mode", "high"],
    "beta": ["alpha", "beta", "low", "high"],
}
DIST_DEFAULTS = {"beta": {"low": 0.0, "high": 1.0}}


# ---------------------------------------------------------------------------- config

def as_number(x, what):
    # PyYAML (YAML 1.1) reads 1e7 or 1e-05 as strings; SpillMC (YAML 1.2) as numbers.
    try:
        return float(x)
    except (TypeError, ValueError):
        sys.exit(f"numpy_baseline: {what}: expected a number, got {x!r}")


def as_integer(x, what):
    return x if isinstance(x, int) else int(as_number(x, what))


def parse_dist(node, what):
    if not isinstance(node, dict):
        return ("fixed", {"value": as_number(node, what)})
    kind = node.get("dist")
    if kind not in DIST_FIELDS:
        sys.exit(f"numpy_baseline: {what}: unknown distribution {kind!r}")
    p = dict(DIST_DEFAULTS.get(kind, {}))
    for f in DIST_FIELDS[kind]:
        if f in node:
            p[f] = as_number(node[f], f"{what}.{f}")
        elif f not in p:
            sys.exit(f"numpy_baseline: {what}: missing '{f}'")
    return (kind, p)


def parse_config(text, source):
    cfg = yaml.safe_load(text)
    if not isinstance(cfg, dict) or "parameters" not in cfg:
        sys.exit(f"numpy_baseline: {source}: not a SpillMC config (no 'parameters')")
    params = cfg["parameters"]
    out = {
        "source": source,
        "draws": as_integer(cfg.get("draws", 1000000), "draws"),
        "seed": as_integer(cfg.get("seed", 1), "seed"),
        "model": cfg.get("model", "constrained"),
        "dist": {},
        "a2_is_gap": "A2_gap" in params,
        "a2p_is_theta": "theta" in params,
    }
    for name in ("a", "b", "c", "A1"):
        out["dist"][name] = parse_dist(params[name], f"parameters.{name}")
    out["dist"]["A2"] = parse_dist(params["A2_gap" if out["a2_is_gap"] else "A2"],
                                   "parameters.A2")
    out["dist"]["A2p"] = parse_dist(params["theta" if out["a2p_is_theta"] else "A2p"],
                                    "parameters.A2p")
    if out["model"] not in ("constrained", "paper"):
        sys.exit(f"numpy_baseline: unknown model {out['model']!r}")
    return out


# ---------------------------------------------------------------------------- sampling

def sample(rng, kind, p, n):
    if kind == "fixed":
        return np.full(n, p["value"])
    if kind == "uniform":
        return rng.uniform(p["low"], p["high"], n)
    if kind == "normal":
        return rng.normal(p["mean"], p["sd"], n)
    if kind == "lognormal":
        return rng.lognormal(p["meanlog"], p["sdlog"], n)
    if kind == "triangular":
        return rng.triangular(p["low"], p["mode"], p["high"], n)
    if kind == "beta":
        return p["low"] + (p["high"] - p["low"]) * rng.beta(p["alpha"], p["beta"], n)
    if kind == "truncnormal":
        mu, sd, lo, hi = p["mean"], p["sd"], p["low"], p["high"]
        if ndtri is not None:  # inverse CDF, as scipy.stats.truncnorm does
            pa, pb = ndtr((lo - mu) / sd), ndtr((hi - mu) / sd)
            x = mu + sd * ndtri(pa + rng.random(n) * (pb - pa))
        else:  # rejection, fine unless the interval is far in a tail
            x = rng.normal(mu, sd, n)
            bad = (x < lo) | (x > hi)
            while bad.any():
                x[bad] = rng.normal(mu, sd, int(bad.sum()))
                bad = (x < lo) | (x > hi)
        return np.clip(x, lo, hi)
    raise ValueError(kind)


def sample_params(rng, cfg, n):
    d = cfg["dist"]
    a = sample(rng, *d["a"], n)
    b = sample(rng, *d["b"], n)
    c = sample(rng, *d["c"], n)
    A1 = sample(rng, *d["A1"], n)
    A2 = sample(rng, *d["A2"], n)
    A2p = sample(rng, *d["A2p"], n)
    if cfg["a2_is_gap"]:
        A2 = A1 + A2
    if cfg["a2p_is_theta"]:
        A2p = A1 + A2p * (A2 - A1)
    return a, b, c, A1, A2, A2p


# ---------------------------------------------------------------------------- model

def stackelberg(m1, m2, b, paper):
    """Leader at margin m1, follower at m2: (q1, q2, pi1, pi2, regime), model.md's table."""
    pos = m2 > 0
    two_m1 = 2.0 * m1
    regime = np.select(
        [pos & (two_m1 <= m2), pos & (two_m1 < 3.0 * m2), pos & (m1 < 2.0 * m2), pos, m1 > 0],
        [3, 0, 1, 2, 2], default=4)
    lead = 2.0 * m1 - m2
    foll = 3.0 * m2 - 2.0 * m1
    if paper:  # eqs. 3-9 literally
        return lead / (2 * b), foll / (4 * b), lead**2 / (8 * b), foll**2 / (16 * b), regime
    r0, r1, r2, r3 = regime == 0, regime == 1, regime == 2, regime == 3
    q1 = np.select([r0, r1, r2], [lead / (2 * b), m2 / b, m1 / (2 * b)], 0.0)
    q2 = np.select([r0, r3], [foll / (4 * b), m2 / (2 * b)], 0.0)
    pi1 = np.select([r0, r1, r2], [lead**2 / (8 * b), (m1 - m2) * m2 / b, m1**2 / (4 * b)], 0.0)
    pi2 = np.select([r0, r3], [foll**2 / (16 * b), m2**2 / (4 * b)], 0.0)
    return q1, q2, pi1, pi2, regime


def evaluate(a, b, c, A1, A2, A2p, paper):
    """All 25 fields (rows in ORDER), the regimes, the events, the A2_crit mask."""
    d = a - c
    m11 = d + A1
    q11 = (m11 if paper else np.maximum(m11, 0.0)) / (2 * b)
    p11 = a - b * q11 + A1
    pi11 = m11**2 / (4 * b) if paper else b * q11**2
    m1 = d + A2
    q12, q22, pi12, pi22, reg2 = stackelberg(m1, m11, b, paper)
    q12u, q22u, pi12u, pi22u, regu = stackelberg(m1, d + A2p, b, paper)
    Q, Qu = q12 + q22, q12u + q22u
    crit = (SQRT2_MINUS_1 * d + SQRT2_PLUS_1 * A1) / 2.0
    gain = pi22u - pi22
    values = np.stack([
        a, b, c, A1, A2, A2p,
        q11, p11, pi11,
        q12, q22, a - b * Q + A2, a - b * Q + A1, pi12, pi22,
        q12u, q22u, a - b * Qu + A2, a - b * Qu + A2p, pi12u, pi22u,
        gain, pi12 - pi12u, (2.0 * A2 - d) / 3.0, crit,
    ])
    events = np.stack([pi12 >= pi11, 3.0 * A1 > 2.0 * A2, q22 > 0, q22u > 0, gain > 0])
    return values, reg2, regu, events, m11 > 0


# ---------------------------------------------------------------------------- reduction

class Moments:
    """count/mean/M2/min/max per row, merged chunk by chunk (Chan et al.)."""

    def __init__(self, k):
        self.n = np.zeros(k)
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)
        self.min = np.full(k, np.inf)
        self.max = np.full(k, -np.inf)

    def add(self, rows, x):
        """Rows `rows` of the accumulator get the columns of x (one row per entry)."""
        nb = x.shape[1]
        if nb == 0:
            return
        mb = x.mean(axis=1)
        m2b = ((x - mb[:, None]) ** 2).sum(axis=1)
        na = self.n[rows]
        nt = na + nb
        delta = mb - self.mean[rows]
        self.mean[rows] += delta * (nb / nt)
        self.m2[rows] += m2b + delta**2 * (na * nb / nt)
        self.n[rows] = nt
        self.min[rows] = np.minimum(self.min[rows], x.min(axis=1))
        self.max[rows] = np.maximum(self.max[rows], x.max(axis=1))


def run(cfg, draws, chunk):
    rng = np.random.default_rng(cfg["seed"])
    paper = cfg["model"] == "paper"
    last = len(ORDER) - 1  # A2_crit
    mom = Moments(len(ORDER))
    events = np.zeros(len(EVENTS), dtype=np.int64)
    reg2 = np.zeros(5, dtype=np.int64)
    regu = np.zeros(5, dtype=np.int64)
    invalid = np.zeros(len(INVALID), dtype=np.int64)
    crit_undefined = 0
    t0 = time.perf_counter()
    done = 0
    with np.errstate(all="ignore"):  # invalid draws may divide by zero; they are dropped below
        while done < draws:
            n = min(chunk, draws - done)
            params = sample_params(rng, cfg, n)
            finite = np.isfinite(np.stack(params)).all(axis=0)
            valid = finite & (params[1] > 0)
            values, r2, ru, ev, crit_ok = evaluate(*params, paper)
            ok = valid & np.isfinite(values[NUM_PARAMS:]).all(axis=0)
            invalid += [np.count_nonzero(~finite), np.count_nonzero(finite & ~valid),
                        np.count_nonzero(valid & ~ok)]
            if not ok.all():
                values, r2, ru, ev, crit_ok = (values[:, ok], r2[ok], ru[ok], ev[:, ok],
                                               crit_ok[ok])
            mom.add(slice(0, last), values[:last])
            mom.add(slice(last, None), values[last:, crit_ok])
            crit_undefined += int(np.count_nonzero(~crit_ok))
            events += ev.sum(axis=1)
            reg2 += np.bincount(r2, minlength=5)
            regu += np.bincount(ru, minlength=5)
            done += n
    seconds = time.perf_counter() - t0
    valid_n = draws - int(invalid.sum())
    summary = {}
    for name in FIELDS:
        i = ORDER.index(name)
        n = int(mom.n[i])
        std = math.sqrt(mom.m2[i] / (n - 1)) if n >= 2 else math.nan
        summary[name] = {
            "count": n,
            "mean": float(mom.mean[i]) if n else math.nan,
            "std": std,
            "sem": std / math.sqrt(n) if n >= 2 else math.nan,
            "min": float(mom.min[i]) if n else math.nan,
            "max": float(mom.max[i]) if n else math.nan,
        }
    return {
        "draws": draws,
        "draws_valid": valid_n,
        "seconds": seconds,
        "draws_per_second": draws / seconds if seconds > 0 else math.nan,
        "summary": summary,
        "events": {e: {"count": int(events[k]),
                       "probability": events[k] / valid_n if valid_n else math.nan}
                   for k, e in enumerate(EVENTS)},
        "regimes": {"labels": REGIMES, "stage2": reg2.tolist(), "upgrade": regu.tolist()},
        "invalid": {name: int(invalid[k]) for k, name in enumerate(INVALID)},
        "undefined": {"A2_crit": crit_undefined},
    }


# ---------------------------------------------------------------------------- --check

def read_result(path):
    import h5py  # only needed here

    def text(v):
        return v.decode() if isinstance(v, bytes) else str(v)

    with h5py.File(path, "r") as f:
        if text(f.attrs.get("format", b"")) != "spillmc-result":
            sys.exit(f"numpy_baseline: {path}: not a SpillMC result file")
        r = {
            "config": text(f.attrs["config"]),
            "draws": int(f.attrs["draws_requested"]),
            "draws_valid": int(f.attrs["draws_valid"]),
            "summary": {n: {k: f[f"summary/{n}/{k}"][()] for k in ("count", "mean", "sem")}
                        for n in FIELDS},
            "events": {e: {k: f[f"events/{e}/{k}"][()] for k in ("count", "probability")}
                       for e in EVENTS},
            "stage2": [int(x) for x in f["regimes/stage2"][()]],
            "upgrade": [int(x) for x in f["regimes/upgrade"][()]],
            "invalid": {name: int(f[f"invalid/{name}"][()]) for name in INVALID},
            "crit_undefined": int(f["undefined/A2_crit"][()]),
        }
    return r


def check(ours, theirs, k=5.0):
    """Compare means and proportions within k combined standard errors. Returns failures."""
    rows, failures = [], []

    def compare(what, x, sx, y, sy):
        se = math.sqrt(sx**2 + sy**2)
        # Equal up to rounding always agrees (a constant's SE is 0, or rounding noise).
        same = abs(x - y) <= 1e-12 * max(1.0, abs(x), abs(y))
        if math.isnan(x) and math.isnan(y):
            z, ok = 0.0, True
        elif se == 0.0 or math.isnan(se):
            z, ok = (0.0, True) if same else (math.inf, False)
        else:
            z = (x - y) / se
            ok = same or abs(z) <= k
        rows.append((what, x, y, z, ok))
        if not ok:
            failures.append(what)

    def proportion(what, cx, nx, cy, ny):
        px = cx / nx if nx else math.nan
        py = cy / ny if ny else math.nan
        sx = math.sqrt(px * (1 - px) / nx) if nx else 0.0
        sy = math.sqrt(py * (1 - py) / ny) if ny else 0.0
        compare(what, px, sx, py, sy)

    for name in FIELDS:
        o, t = ours["summary"][name], theirs["summary"][name]
        sem_o = o["sem"] if o["count"] >= 2 else 0.0
        sem_t = float(t["sem"]) if int(t["count"]) >= 2 else 0.0
        compare(f"mean {name}", o["mean"], sem_o, float(t["mean"]), sem_t)
    nv_o, nv_t = ours["draws_valid"], theirs["draws_valid"]
    for e in EVENTS:
        proportion(f"P({e})", ours["events"][e]["count"], nv_o,
                   int(theirs["events"][e]["count"]), nv_t)
    for kind in ("stage2", "upgrade"):
        for r, label in enumerate(REGIMES):
            proportion(f"regime {kind} {label}", ours["regimes"][kind][r], nv_o,
                       theirs[kind][r], nv_t)
    for name in INVALID:
        proportion(f"invalid {name}", ours["invalid"][name], ours["draws"],
                   theirs["invalid"][name], theirs["draws"])
    proportion("A2_crit undefined", ours["undefined"]["A2_crit"], nv_o,
               theirs["crit_undefined"], nv_t)
    return rows, failures


# ---------------------------------------------------------------------------- main

def json_clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    if isinstance(x, np.generic):
        return json_clean(x.item())
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="SpillMC YAML config (default: configs/baseline.yaml, or "
                    "with --check the effective config stored in the result file)")
    ap.add_argument("--draws", help="number of draws (default: the config's); 1e7 works")
    ap.add_argument("--seed", type=int, help="override the config's seed")
    ap.add_argument("--chunk", type=float, default=1e6, help="draws per vectorised chunk")
    ap.add_argument("--json", metavar="OUT", help="write the statistics and the timing as JSON")
    ap.add_argument("--check", metavar="RESULT_H5",
                    help="compare with a spillmc result file; exit 1 on disagreement")
    ap.add_argument("--sigma", type=float, default=5.0, help="--check tolerance in combined SEs")
    ap.add_argument("--quiet", action="store_true", help="print only the draws/s line")
    args = ap.parse_args()

    theirs = read_result(args.check) if args.check else None
    if args.config:
        with open(args.config) as fh:
            cfg = parse_config(fh.read(), args.config)
    elif theirs is not None:
        cfg = parse_config(theirs["config"], f"{args.check}:/config")
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "configs", "baseline.yaml")
        with open(path) as fh:
            cfg = parse_config(fh.read(), os.path.relpath(path))
    if args.seed is not None:
        cfg["seed"] = args.seed
    draws = int(float(args.draws)) if args.draws else cfg["draws"]
    chunk = max(1, int(args.chunk))

    res = run(cfg, draws, chunk)
    print(f"numpy_baseline: {draws} draws in {res['seconds']:.3f} s, "
          f"{res['draws_per_second']:.4g} draws/s (numpy {np.__version__}, chunk {chunk})")

    rc = 0
    if theirs is not None:
        rows, failures = check(res, theirs, args.sigma)
        if not args.quiet or failures:
            print(f"{'quantity':36s} {'numpy':>14s} {'spillmc':>14s} {'z':>7s}")
            for what, x, y, z, ok in rows:
                if args.quiet and ok:
                    continue
                print(f"{what:36s} {x:14.6g} {y:14.6g} {z:7.2f}{'' if ok else '  DISAGREE'}")
        if failures:
            print(f"numpy_baseline: check FAILED: {len(failures)} of {len(rows)} quantities "
                  f"differ by more than {args.sigma:g} combined standard errors", file=sys.stderr)
            rc = 1
        else:
            print(f"numpy_baseline: check passed: {len(rows)} quantities agree within "
                  f"{args.sigma:g} combined standard errors ({draws} numpy draws vs "
                  f"{theirs['draws']} spillmc draws)")

    if args.json:
        out = dict(res, config=cfg["source"], seed=cfg["seed"], model=cfg["model"], chunk=chunk,
                   numpy_version=np.__version__, python_version=platform.python_version())
        with open(args.json, "w") as fh:
            json.dump(json_clean(out), fh, indent=1)
            fh.write("\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
