#!/usr/bin/python3
"""Checks the sweep part of a SpillMC result file, and that xarray can read it.

Usage:
  /usr/bin/python3 tests/check_sweep_layout.py FILE.h5
  /usr/bin/python3 tests/check_sweep_layout.py --write-synthetic OUT.h5 [--ndim 1|2|3]
                      [--axes-from CONFIG.yaml] [--draws-per-cell N]

The layout (docs/output.md, sweeps):
  root attribute sweep_axes          string[n]      axis names in grid order, n = 1 .. 3
  /sweep/<axis>                      float64[k]     coordinates; an HDF5 dimension scale
                                                    (CLASS = "DIMENSION_SCALE", NAME = <axis>)
  /sweep/axes/<axis>                                a hard link to /sweep/<axis>
  /sweep/summary/<field>/{count,mean,std,sem,min,max}   grid-shaped (k1[,k2[,k3]])
  /sweep/events/<event>/{count,probability,ci95_low,ci95_high}   grid-shaped
  /sweep/regimes/{stage2,upgrade}    int64 grid + [5], attribute labels
  /sweep/paths/best_share            float64 grid + [npaths] (with paths; root attribute path_names)
  /sweep/paths/none_pays             float64 grid
  /sweep/counts/<name>               uint64 grid (optional; draws_valid = the valid draws per cell)
Every grid dimension of every grid dataset has its axis attached as the one dimension scale.
A trailing dimension (regimes, paths) needs a scale of its own too (/sweep/regimes/regime,
/sweep/paths/path: string scales holding the labels): h5netcdf refuses a dataset that mixes
dimensions with and without scales. Cells with no valid draws hold NaN in mean/min/max/std/sem
and probability.

When xarray and h5netcdf are importable (Debian: python3-xarray, python3-h5netcdf) it also checks
that xarray.open_dataset(FILE, group="sweep", engine="h5netcdf") shows the axes as dimensions
with their coordinates, and group="sweep/summary/upgrade_gain" gives `mean` over the axis names.

--write-synthetic writes a file in this layout (plus /summary with quantiles and histograms,
/events, /regimes and /paths) from a small NumPy Monte Carlo of model.md's constrained model, for
developing readers such as scripts/plot.py before the C++ writer exists.

Exit status: 0 fine, 1 one line per problem, 2 not a sweep file / unusable / misuse.
"""

import argparse
import math
import os
import re
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS_HPP = os.path.join(HERE, os.pardir, "include", "spillmc", "fields.hpp")

STATS = ["count", "mean", "std", "sem", "min", "max"]
EVENT_DATASETS = ["count", "probability", "ci95_low", "ci95_high"]
AXIS_PARAMS = ["a", "b", "c", "A1", "A2", "A2_gap", "A2p", "theta"]
REGIME_SETS = ["stage2", "upgrade"]

FALLBACK_FIELDS = ["a", "b", "c", "A1", "A2", "A2p", "q11", "p11", "pi11", "q12", "q22", "p12",
                   "p22", "pi12", "pi22", "q12_up", "q22_up", "p12_up", "p22_up", "pi12_up",
                   "pi22_up", "upgrade_gain", "leader_loss_up", "A2p_entry", "A2_crit"]
FALLBACK_EVENTS = ["leader_gains", "spillover_condition", "follower_active",
                   "follower_active_up", "upgrade_gain_positive"]
FALLBACK_REGIMES = ["both_active", "limit_output", "leader_monopoly", "follower_monopoly",
                    "nobody_produces"]


def names_from_header(array, fallback):
    """The string literals of `array` in fields.hpp, so the check follows that table."""
    try:
        with open(FIELDS_HPP, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return fallback
    m = re.search(re.escape(array) + r"\[[^\]]*\]\s*=\s*\{(.*?)\};", text, re.S)
    return re.findall(r'"([^"]*)"', m.group(1)) if m else fallback


FIELDS = names_from_header("kFieldNames", FALLBACK_FIELDS)
EVENTS = names_from_header("kEventNames", FALLBACK_EVENTS)
REGIME_LABELS = names_from_header("kRegimeLabels", FALLBACK_REGIMES)

problems = []
notes = []


def problem(msg):
    problems.append(msg)


def as_text(value):
    """An attribute's text whatever its string type (fixed-length reads as bytes)."""
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return as_text(value[()])
    return str(value)


def string_list(value):
    if isinstance(value, (str, bytes)):
        return [as_text(value)]
    return [as_text(v) for v in np.asarray(value).ravel()]


# ---------------------------------------------------------------------------- h5py checks

def check_scale(f, axis):
    """/sweep/<axis>: a 1-D float64 dimension scale named <axis>, hard-linked as
    /sweep/axes/<axis>."""
    path = f"sweep/{axis}"
    if path not in f or not isinstance(f[path], h5py.Dataset):
        problem(f"/{path}: missing (coordinate dataset of axis '{axis}')")
        return None
    ds = f[path]
    if ds.ndim != 1 or ds.shape[0] < 1:
        problem(f"/{path}: shape {ds.shape}, expected 1-D with at least one value")
        return None
    if ds.dtype != np.float64:
        problem(f"/{path}: type {ds.dtype}, expected float64")
    values = ds[()]
    if not np.all(np.isfinite(values)):
        problem(f"/{path}: non-finite coordinates {values}")
    elif len(np.unique(values)) != len(values):
        problem(f"/{path}: repeated coordinates {values}")
    cls = ds.attrs.get("CLASS")
    # h5netcdf tests CLASS == b"DIMENSION_SCALE": a variable-length string reads as str and
    # fails that test, so the attribute must be the fixed-length one H5DSset_scale writes.
    if cls is None:
        problem(f"/{path}: not a dimension scale (no CLASS attribute; use H5DSset_scale)")
    elif not isinstance(cls, bytes):
        problem(f"/{path}: CLASS is a {type(cls).__name__}, expected the fixed-length string "
                "H5DSset_scale writes (h5netcdf compares it with b'DIMENSION_SCALE')")
    elif cls != b"DIMENSION_SCALE":
        problem(f"/{path}: CLASS is {cls!r}, expected b'DIMENSION_SCALE'")
    name = ds.attrs.get("NAME")
    if name is None:
        problem(f"/{path}: no NAME attribute (H5DSset_scale(id, \"{axis}\"))")
    elif as_text(name) != axis:
        problem(f"/{path}: NAME is {as_text(name)!r}, expected {axis!r}")
    if "REFERENCE_LIST" not in ds.attrs:
        problem(f"/{path}: no REFERENCE_LIST: no dataset has it attached")
    link = f"sweep/axes/{axis}"
    if link not in f:
        problem(f"/{link}: missing (hard link to /{path})")
    elif not isinstance(f.get(link, getlink=True), h5py.HardLink) or f[link] != ds:
        problem(f"/{link}: not a hard link to /{path}")
    return ds


def scales_of(ds, i):
    """The scales attached to ds's dimension i (iterating a DimensionProxy gives names)."""
    dim = ds.dims[i]
    return [dim[j] for j in range(len(dim))]


def check_dims(f, ds, scales, trailing=None):
    """ds's first len(scales) dimensions carry exactly those scales; a trailing dimension, when
    present, must carry a scale too (`trailing`: its expected values, or None)."""
    for i, (axis, scale) in enumerate(scales):
        attached = scales_of(ds, i)
        if len(attached) != 1:
            problem(f"{ds.name}: dimension {i} has {len(attached)} scales attached, expected "
                    f"exactly /sweep/{axis}")
        elif scale is not None and attached[0] != scale:
            problem(f"{ds.name}: dimension {i} carries {attached[0].name}, expected /sweep/{axis}")
    if ds.ndim == len(scales) + 1:
        attached = scales_of(ds, ds.ndim - 1)
        if len(attached) != 1:
            problem(f"{ds.name}: its last dimension has no dimension scale; h5netcdf/xarray "
                    "refuse a dataset mixing dimensions with and without scales (attach a "
                    "string scale of the labels, e.g. /sweep/regimes/regime)")
        elif trailing is not None:
            got = string_list(attached[0][()])
            if got != list(trailing):
                problem(f"{ds.name}: its last dimension's scale {attached[0].name} holds {got}, "
                        f"expected {list(trailing)}")


def check_grid_dataset(f, path, shape, scales, dtype, trailing=None):
    if path not in f or not isinstance(f[path], h5py.Dataset):
        problem(f"/{path}: missing")
        return None
    ds = f[path]
    if ds.shape != shape:
        problem(f"/{path}: shape {ds.shape}, expected {shape}")
        return None
    if ds.dtype != dtype:
        problem(f"/{path}: type {ds.dtype}, expected {np.dtype(dtype)}")
    check_dims(f, ds, scales, trailing)
    return ds[()]


def close(a, b, rel=1e-9):
    return np.abs(a - b) <= rel * np.maximum(1.0, np.abs(b))


def check_summary(f, grid, scales):
    valid = None
    for field in FIELDS:
        base = f"sweep/summary/{field}"
        if base not in f:
            problem(f"/{base}: missing")
            continue
        v = {s: check_grid_dataset(f, f"{base}/{s}", grid, scales,
                                   np.uint64 if s == "count" else np.float64) for s in STATS}
        if any(x is None for x in v.values()):
            continue
        n = v["count"].astype(np.float64)
        if field == FIELDS[0]:
            valid = n
        elif field != "A2_crit" and valid is not None and not np.array_equal(n, valid):
            problem(f"/{base}/count differs from /sweep/summary/{FIELDS[0]}/count (valid draws)")
        empty = n == 0
        for s in ["mean", "min", "max"]:
            if not np.all(np.isnan(v[s][empty])):
                problem(f"/{base}/{s}: not NaN in a cell with count 0")
            if np.any(np.isnan(v[s][~empty])):
                problem(f"/{base}/{s}: NaN in a cell with count > 0")
        few = n < 2
        for s in ["std", "sem"]:
            if not np.all(np.isnan(v[s][few])):
                problem(f"/{base}/{s}: not NaN in a cell with count < 2")
            if np.any(np.isnan(v[s][~few])) or np.any(v[s][~few] < 0):
                problem(f"/{base}/{s}: NaN or negative in a cell with count >= 2")
        ok = ~empty
        slack = 1e-9 * np.maximum(1.0, np.abs(v["mean"][ok]))
        lo, mean, hi = v["min"][ok], v["mean"][ok], v["max"][ok]
        if np.any(lo > mean + slack) or np.any(mean > hi + slack):
            problem(f"/{base}: min <= mean <= max fails in some cell")
        many = ~few
        if np.any(~close(v["sem"][many], v["std"][many] / np.sqrt(n[many]))):
            problem(f"/{base}: sem != std / sqrt(count) in some cell")
    return valid


def check_events(f, grid, scales, valid):
    for event in EVENTS:
        base = f"sweep/events/{event}"
        if base not in f:
            problem(f"/{base}: missing")
            continue
        v = {s: check_grid_dataset(f, f"{base}/{s}", grid, scales,
                                   np.uint64 if s == "count" else np.float64)
             for s in EVENT_DATASETS}
        if any(x is None for x in v.values()):
            continue
        p, lo, hi = v["probability"], v["ci95_low"], v["ci95_high"]
        if valid is not None:
            empty = valid == 0
            if not np.all(np.isnan(p[empty])):
                problem(f"/{base}/probability: not NaN in a cell with no valid draws")
            ok = ~empty
            if np.any(v["count"][ok] > valid[ok]):
                problem(f"/{base}/count exceeds the cell's valid draws")
            if np.any(~close(p[ok], v["count"][ok] / valid[ok])):
                problem(f"/{base}/probability != count / valid draws in some cell")
        ok = ~np.isnan(p)
        if np.any(lo[ok] > p[ok] + 1e-12) or np.any(p[ok] > hi[ok] + 1e-12) or \
                np.any(lo[ok] < -1e-12) or np.any(hi[ok] > 1 + 1e-12):
            problem(f"/{base}: 0 <= ci95_low <= probability <= ci95_high <= 1 fails in some cell")


def check_regimes(f, grid, scales, valid):
    for which in REGIME_SETS:
        path = f"sweep/regimes/{which}"
        counts = check_grid_dataset(f, path, grid + (len(REGIME_LABELS),), scales, np.int64,
                                    REGIME_LABELS)
        if counts is None:
            continue
        labels = f[path].attrs.get("labels")
        if labels is None or string_list(labels) != REGIME_LABELS:
            problem(f"/{path}: attribute labels is {labels!r}, expected {REGIME_LABELS}")
        if np.any(counts < 0):
            problem(f"/{path}: negative counts")
        if valid is not None and not np.array_equal(counts.sum(axis=-1), valid.astype(np.int64)):
            problem(f"/{path}: counts do not sum to the cell's valid draws")


def check_paths(f, grid, scales):
    names = f.attrs.get("path_names")
    if "sweep/paths" not in f:
        if names is not None and len(string_list(names)) > 0:
            problem("/sweep/paths: missing although the root attribute path_names is set")
        return
    if names is None:
        problem("/sweep/paths present but no root attribute path_names")
        return
    names = string_list(names)
    share = check_grid_dataset(f, "sweep/paths/best_share", grid + (len(names),), scales,
                               np.float64, names)
    none = check_grid_dataset(f, "sweep/paths/none_pays", grid, scales, np.float64)
    for what, arr in [("best_share", share), ("none_pays", none)]:
        if arr is not None:
            ok = arr[~np.isnan(arr)]
            if np.any(ok < -1e-12) or np.any(ok > 1 + 1e-12):
                problem(f"/sweep/paths/{what}: shares outside [0, 1]")


def check_xarray(path, axes, coords, has_paths):
    try:
        import xarray as xr
        import h5netcdf  # the engine

        del h5netcdf
    except ImportError as e:
        notes.append(f"xarray checks skipped ({e}; Debian: python3-xarray python3-h5netcdf)")
        return

    def open_group(group, **kw):
        try:
            return xr.open_dataset(path, group=group, engine="h5netcdf", **kw)
        except Exception as e:  # h5netcdf raises ValueError/KeyError/OSError on bad layouts
            problem(f"xarray.open_dataset(group={group!r}, engine='h5netcdf'"
                    + "".join(f", {k}={v!r}" for k, v in kw.items())
                    + f") fails: {type(e).__name__}: {e}")
            return None

    ds = open_group("sweep")
    if ds is not None:
        with ds:
            for axis, values in zip(axes, coords):
                if ds.sizes.get(axis) != len(values):
                    problem(f"xarray group 'sweep': dimension {axis!r} has size "
                            f"{ds.sizes.get(axis)}, expected {len(values)} "
                            f"(dims: {dict(ds.sizes)})")
                elif axis not in ds.coords or not np.array_equal(ds.coords[axis].values, values):
                    problem(f"xarray group 'sweep': no coordinate {axis!r} equal to /sweep/{axis}")
    ds = open_group("sweep/summary/upgrade_gain")
    if ds is not None:
        with ds:
            if "mean" not in ds or tuple(ds["mean"].dims) != tuple(axes):
                dims = tuple(ds["mean"].dims) if "mean" in ds else None
                problem(f"xarray group 'sweep/summary/upgrade_gain': mean has dims {dims}, "
                        f"expected {tuple(axes)}")
    groups = ["sweep/events/leader_gains", "sweep/regimes"] + (["sweep/paths"] if has_paths else [])
    for group in groups:
        ds = open_group(group)
        if ds is not None:
            ds.close()
    # phony_dims="sort" makes h5netcdf visit every group of the file: any dataset anywhere
    # that mixes dimensions with and without scales makes the whole file unreadable this way.
    ds = open_group("sweep", phony_dims="sort")
    if ds is not None:
        ds.close()


def check(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        print(f"check_sweep_layout: cannot open '{path}': {e}", file=sys.stderr)
        return 2
    with f:
        if "sweep_axes" not in f.attrs:
            print(f"check_sweep_layout: '{path}' is not a sweep result (no root attribute "
                  "sweep_axes)", file=sys.stderr)
            return 2
        raw = f.attrs["sweep_axes"]
        axes = string_list(raw)
        if not isinstance(raw, np.ndarray) or raw.ndim != 1 or \
                h5py.check_string_dtype(raw.dtype) is None:
            problem(f"root attribute sweep_axes: {raw!r}, expected a 1-D string array")
        if not 1 <= len(axes) <= 3:
            problem(f"sweep_axes names {len(axes)} axes, expected 1 to 3")
        if len(set(axes)) != len(axes):
            problem(f"sweep_axes repeats an axis: {axes}")
        for axis in axes:
            if axis not in AXIS_PARAMS:
                problem(f"sweep_axes: {axis!r} is not a parameter ({', '.join(AXIS_PARAMS)})")
        if "sweep" not in f:
            problem("/sweep: missing")
            return report()
        scales = [(axis, check_scale(f, axis)) for axis in axes]
        if any(s is None for _, s in scales):
            return report()
        coords = [s[()] for _, s in scales]
        grid = tuple(len(c) for c in coords)
        valid = check_summary(f, grid, scales)
        if "sweep/counts" in f:  # optional: per-cell draw counts
            for name in f["sweep/counts"]:
                counts = check_grid_dataset(f, f"sweep/counts/{name}", grid, scales, np.uint64)
                if name == "draws_valid" and counts is not None and valid is not None and \
                        not np.array_equal(counts.astype(np.float64), valid):
                    problem("/sweep/counts/draws_valid differs from "
                            f"/sweep/summary/{FIELDS[0]}/count")
        check_events(f, grid, scales, valid)
        check_regimes(f, grid, scales, valid)
        check_paths(f, grid, scales)
        has_paths = "sweep/paths" in f
    check_xarray(path, axes, coords, has_paths)
    return report()


def report():
    for n in notes:
        print(f"note: {n}")
    for p in problems:
        print(p)
    return 1 if problems else 0


# ---------------------------------------------------------------------------- synthetic file

SQRT2 = math.sqrt(2.0)


def stackelberg(m1, m2, b):
    """model.md's constrained Stackelberg table: (q1, q2, pi1, pi2, regime)."""
    x = np.divide(m1, m2, out=np.full_like(m1, np.inf), where=m2 > 0)
    pos = m2 > 0
    conds = [pos & (x > 0.5) & (x < 1.5), pos & (x >= 1.5) & (x < 2),
             (pos & (x >= 2)) | (~pos & (m1 > 0)), pos & (x <= 0.5)]
    q1 = np.select(conds, [(2 * m1 - m2) / (2 * b), m2 / b, m1 / (2 * b), 0 * m1], 0 * m1)
    q2 = np.select(conds, [(3 * m2 - 2 * m1) / (4 * b), 0 * m1, 0 * m1, m2 / (2 * b)], 0 * m1)
    pi1 = np.select(conds, [(2 * m1 - m2) ** 2 / (8 * b), (m1 - m2) * m2 / b, m1 ** 2 / (4 * b),
                            0 * m1], 0 * m1)
    pi2 = np.select(conds, [(3 * m2 - 2 * m1) ** 2 / (16 * b), 0 * m1, 0 * m1, m2 ** 2 / (4 * b)],
                    0 * m1)
    regime = np.select(conds, [0, 1, 2, 3], 4)
    return q1, q2, pi1, pi2, regime


def evaluate(a, b, c, A1, A2, A2p):
    d = a - c
    out = {"a": a, "b": b, "c": c, "A1": A1, "A2": A2, "A2p": A2p}
    out["q11"] = np.maximum(0, d + A1) / (2 * b)
    out["p11"] = a - b * out["q11"] + A1
    out["pi11"] = b * out["q11"] ** 2
    q12, q22, pi12, pi22, r2 = stackelberg(d + A2, d + A1, b)
    out.update(q12=q12, q22=q22, pi12=pi12, pi22=pi22)
    out["p12"] = a - b * (q12 + q22) + A2
    out["p22"] = a - b * (q12 + q22) + A1
    q12u, q22u, pi12u, pi22u, ru = stackelberg(d + A2, d + A2p, b)
    out.update(q12_up=q12u, q22_up=q22u, pi12_up=pi12u, pi22_up=pi22u)
    out["p12_up"] = a - b * (q12u + q22u) + A2
    out["p22_up"] = a - b * (q12u + q22u) + A2p
    out["upgrade_gain"] = pi22u - pi22
    out["leader_loss_up"] = pi12 - pi12u
    out["A2p_entry"] = (2 * A2 - d) / 3
    out["A2_crit"] = np.where(d + A1 > 0, ((SQRT2 - 1) * d + (SQRT2 + 1) * A1) / 2, np.nan)
    events = {"leader_gains": pi12 >= out["pi11"], "spillover_condition": 3 * A1 > 2 * A2,
              "follower_active": q22 > 0, "follower_active_up": q22u > 0,
              "upgrade_gain_positive": out["upgrade_gain"] > 0}
    return out, events, r2, ru


PATHS = [("absorb_spillover", 0.2, 0.8, 0.3), ("independent_rd", 1.0, 0.5, 0.9)]


def sample(rng, n, fixed):
    """Baseline distributions (configs/baseline.yaml) with the swept parameters fixed."""
    p = {"a": rng.uniform(8, 12, n), "b": rng.triangular(0.8, 1, 1.25, n),
         "c": rng.normal(2, 0.2, n), "A1": rng.triangular(0.5, 1, 2, n),
         "A2_gap": rng.lognormal(0, 0.5, n), "theta": rng.beta(2, 2, n)}
    for k, v in fixed.items():
        p[k] = np.full(n, float(v))
    A2 = p["A1"] + p["A2_gap"]
    return evaluate(p["a"], p["b"], p["c"], p["A1"], A2, p["A1"] + p["theta"] * (A2 - p["A1"])), p


def path_gains(out, p, rng):
    """Per path: the follower's gain from an attempted upgrade minus its cost (synthetic)."""
    gains = []
    for _, cost, p_success, theta in PATHS:
        ok = rng.uniform(size=len(p["a"])) < p_success
        A2 = out["A2"]
        A2p = np.where(ok, p["A1"] + theta * (A2 - p["A1"]), p["A1"])
        up, _, _, _ = evaluate(p["a"], p["b"], p["c"], p["A1"], A2, A2p)
        gains.append(up["pi22_up"] - out["pi22"] - cost)
    return np.array(gains)


def wilson(k, n):
    z = 1.959963984540054
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z * z / n
        mid = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return p, np.maximum(0, mid - half), np.minimum(1, mid + half)


def stats(x):
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return n, np.nan, np.nan, np.nan, np.nan, np.nan
    std = float(np.std(x, ddof=1)) if n > 1 else np.nan
    return n, float(np.mean(x)), std, std / math.sqrt(n) if n > 1 else np.nan, float(x.min()), \
        float(x.max())


def write_summary(g, out, events, r2, ru, hist_fields):
    levels = np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    for field in FIELDS:
        s = g.create_group(f"summary/{field}")
        vals = stats(out[field])
        for name, v in zip(STATS, vals):
            s.create_dataset(name, data=np.uint64(v) if name == "count" else np.float64(v))
        if field in hist_fields:
            x = out[field][~np.isnan(out[field])]
            lo, hi = np.quantile(x, [0.001, 0.999])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            counts, edges = np.histogram(x, bins=60, range=(lo, hi))
            h = s.create_group("histogram")
            h.create_dataset("counts", data=counts.astype(np.uint64))
            h.create_dataset("edges", data=edges)
            h.attrs["underflow"] = np.uint64(np.sum(x < lo))
            h.attrs["overflow"] = np.uint64(np.sum(x > hi))
            h.attrs["range_source"] = "pilot"
            q = s.create_dataset("quantiles", data=np.quantile(x, levels))
            q.attrs["levels"] = levels
            idx = np.clip(np.searchsorted(edges, q[()]), 1, len(edges) - 1)
            s.create_dataset("quantile_bounds", data=np.stack([edges[idx - 1], edges[idx]], 1))
    for event in EVENTS:
        e = g.create_group(f"events/{event}")
        k = int(np.sum(events[event]))
        p, lo, hi = wilson(np.float64(k), np.float64(len(events[event])))
        for name, v in zip(EVENT_DATASETS, [np.uint64(k), p, lo, hi]):
            e.create_dataset(name, data=v)
    for name, r in [("stage2", r2), ("upgrade", ru)]:
        ds = g.create_dataset(f"regimes/{name}", data=np.bincount(r, minlength=5).astype(np.int64))
        ds.attrs["labels"] = np.array(REGIME_LABELS, dtype=h5py.string_dtype())


AXES = {1: [("A2_gap", np.array([0.25, 0.5, 1, 2, 3, 4, 6, 8]))],
        2: [("A1", np.linspace(0.25, 3, 12)), ("A2_gap", np.linspace(0, 6, 13))],
        3: [("A1", np.linspace(0.25, 3, 8)), ("A2_gap", np.linspace(0, 6, 9)),
            ("theta", np.array([0.2, 0.5, 0.8]))]}


def axes_from_config(path):
    """The sweep axes of a config file (linspace | logspace | values), for a synthetic preview."""
    import yaml  # Debian's python3-yaml; only needed here

    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    axes = []
    for ax in cfg["sweep"]["axes"]:
        if "linspace" in ax:
            lo, hi, n = (float(x) for x in ax["linspace"])
            values = np.linspace(lo, hi, int(n))
        elif "logspace" in ax:
            lo, hi, n = (float(x) for x in ax["logspace"])
            values = np.geomspace(lo, hi, int(n))
        else:
            values = np.array([float(x) for x in ax["values"]])
        axes.append((ax["param"], values))
    return axes


def write_synthetic(path, ndim, draws_per_cell=2000, seed=1, axes=None):
    rng = np.random.default_rng(seed)
    axes = axes or AXES[ndim]
    grid = tuple(len(v) for _, v in axes)
    config = ["draws: 1000000", f"seed: {seed}", "model: constrained", "backend: auto",
              "threads: 0", "parameters:", "  a: {dist: uniform, low: 8, high: 12}",
              "  b: {dist: triangular, low: 0.8, mode: 1, high: 1.25}",
              "  c: {dist: normal, mean: 2, sd: 0.2}",
              "  A1: {dist: triangular, low: 0.5, mode: 1, high: 2}",
              "  A2_gap: {dist: lognormal, meanlog: 0, sdlog: 0.5}",
              "  theta: {dist: beta, alpha: 2, beta: 2, low: 0, high: 1}", "sweep:", "  axes:"]
    for name, v in axes:
        config.append(f"    - {{param: {name}, values: [{', '.join(repr(float(x)) for x in v)}]}}")
    config += [f"  draws_per_cell: {draws_per_cell}", "paths:"]
    for name, cost, ps, th in PATHS:
        config.append(f"  - {{name: {name}, cost: {cost}, p_success: {ps}, theta_success: {th}}}")
    config += ["output:", f"  path: \"{path}\"", ""]
    names = [p[0] for p in PATHS]
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "spillmc-result"
        f.attrs["format_version"] = np.int32(3)
        f.attrs["kind"] = "result"
        f.attrs["program_version"] = "synthetic"
        f.attrs["config"] = "\n".join(config)
        f.attrs["model"] = "constrained"
        f.attrs["seed"] = np.uint64(seed)
        f.attrs["sweep_axes"] = np.array([n for n, _ in axes], dtype=h5py.string_dtype())
        f.attrs["path_names"] = np.array(names, dtype=h5py.string_dtype())
        s = f.create_group("sweep")
        scales = []
        for name, values in axes:
            ds = s.create_dataset(name, data=values.astype(np.float64))
            ds.make_scale(name)
            scales.append(ds)
        for (name, _), ds in zip(axes, scales):
            s[f"axes/{name}"] = ds
        regime = s.create_dataset("regimes/regime",
                                  data=np.array(REGIME_LABELS, dtype=h5py.string_dtype()))
        regime.make_scale("regime")
        path_scale = s.create_dataset("paths/path", data=np.array(names, dtype=h5py.string_dtype()))
        path_scale.make_scale("path")

        summ = {(fl, st): np.full(grid, np.nan) for fl in FIELDS for st in STATS}
        ev = {(e, st): np.full(grid, np.nan) for e in EVENTS for st in EVENT_DATASETS}
        regs = {r: np.zeros(grid + (5,), np.int64) for r in REGIME_SETS}
        best = np.zeros(grid + (len(PATHS),))
        none = np.zeros(grid)
        pooled = []
        for cell in np.ndindex(*grid):
            fixed = {name: values[i] for (name, values), i in zip(axes, cell)}
            (out, events, r2, ru), p = sample(rng, draws_per_cell, fixed)
            for fl in FIELDS:
                for st, v in zip(STATS, stats(out[fl])):
                    summ[(fl, st)][cell] = v
            for e in EVENTS:
                k = float(np.sum(events[e]))
                for st, v in zip(EVENT_DATASETS, (k,) + wilson(k, float(draws_per_cell))):
                    ev[(e, st)][cell] = v
            regs["stage2"][cell] = np.bincount(r2, minlength=5)
            regs["upgrade"][cell] = np.bincount(ru, minlength=5)
            gains = path_gains(out, p, rng)
            pooled.append((out, events, r2, ru, gains))
            pays = gains.max(axis=0) > 0
            winner = gains.argmax(axis=0)
            best[cell] = [np.mean(pays & (winner == k)) for k in range(len(PATHS))]
            none[cell] = np.mean(~pays)

        def grid_ds(name, data, dtype, trailing=None):
            ds = s.create_dataset(name, data=data.astype(dtype))
            for i, sc in enumerate(scales):
                ds.dims[i].attach_scale(sc)
            if trailing is not None:
                ds.dims[len(scales)].attach_scale(trailing)
            return ds

        for (fl, st), data in summ.items():
            grid_ds(f"summary/{fl}/{st}", data, np.uint64 if st == "count" else np.float64)
        for (e, st), data in ev.items():
            grid_ds(f"events/{e}/{st}", data, np.uint64 if st == "count" else np.float64)
        for r, data in regs.items():
            grid_ds(f"regimes/{r}", data, np.int64, regime).attrs["labels"] = \
                np.array(REGIME_LABELS, dtype=h5py.string_dtype())
        grid_ds("paths/best_share", best, np.float64, path_scale)
        grid_ds("paths/none_pays", none, np.float64)

        # Pooled over all cells, as a plain run reports them.
        cat = {k: np.concatenate([c[0][k] for c in pooled]) for k in FIELDS}
        cev = {k: np.concatenate([c[1][k] for c in pooled]) for k in EVENTS}
        write_summary(f, cat, cev, np.concatenate([c[2] for c in pooled]),
                      np.concatenate([c[3] for c in pooled]),
                      ["pi11", "pi12", "pi22", "upgrade_gain", "leader_loss_up", "A2_crit"])
        f.attrs["draws_valid"] = np.uint64(len(cat["a"]))
        f.attrs["draws_requested"] = np.uint64(len(cat["a"]))
        gains = np.concatenate([c[4] for c in pooled], axis=1)
        nb = len(cat["a"])
        for k, name in enumerate(names):
            g = f.create_group(f"paths/{name}")
            share = float(np.mean(best[..., k]))
            for st, v in zip(STATS, stats(gains[k])):
                g.create_dataset(f"gain/{st}", data=np.uint64(v) if st == "count" else v)
            for st, v in zip(EVENT_DATASETS, (share * nb,) + wilson(share * nb, float(nb))):
                g.create_dataset(f"best/{st}", data=np.uint64(v) if st == "count" else v)
        share = float(np.mean(none))
        for st, v in zip(EVENT_DATASETS, (share * nb,) + wilson(share * nb, float(nb))):
            f.create_dataset(f"paths/none_pays/{st}", data=np.uint64(v) if st == "count" else v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", help="result file to check, or the output of --write-synthetic")
    ap.add_argument("--write-synthetic", action="store_true",
                    help="write a synthetic sweep file at FILE instead of checking")
    ap.add_argument("--ndim", type=int, choices=[1, 2, 3], default=2,
                    help="axes of the synthetic sweep (default 2)")
    ap.add_argument("--axes-from", metavar="CONFIG",
                    help="take the synthetic sweep's axes from CONFIG's sweep section (its "
                    "parameters stay those of configs/baseline.yaml): a preview of a study")
    ap.add_argument("--draws-per-cell", type=int, default=2000,
                    help="synthetic draws per cell (default 2000)")
    args = ap.parse_args()
    if args.write_synthetic:
        axes = axes_from_config(args.axes_from) if args.axes_from else None
        write_synthetic(args.file, args.ndim, args.draws_per_cell, axes=axes)
        print(f"wrote {args.file}")
        return 0
    return check(args.file)


if __name__ == "__main__":
    sys.exit(main())
