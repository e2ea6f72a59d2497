#!/usr/bin/python3
"""Plots a SpillMC result file as PNG figures.

Usage:
  scripts/plot.py FILE.h5 [-o DIR] [--list]

Writes into DIR (default: FILE without .h5, plus _plots) whatever the file holds:
  hist_<field>.png       histograms of pi11, pi12, pi22, upgrade_gain, leader_loss_up, A2_crit
                         (/summary/<field>/histogram), with the median and the 5 % and 95 %
                         quantiles marked
  regimes.png            shares of the five Stackelberg regimes, stage 2 and after the upgrade
  events.png             the event probabilities with their 95 % intervals
  paths.png              which upgrade path is best (and how often none pays), mean net gains
  sweep_leader_gains.png, sweep_upgrade_gain_positive.png, sweep_upgrade_gain_mean.png
                         over a sweep grid: line plots with 95 % bands (1 axis), maps (2 axes),
                         one map per value of the third axis (3 axes); the leader-gains figure
                         carries model.md's critical line A2 = A2_crit, the upgrade-pays
                         figure the follower's entry line A2p = A2p_entry, where the axes allow
  sweep_best_path.png, sweep_path_shares.png
                         the path most often best over the grid, and each path's share
Groups the file does not have are skipped. Prints the files written, one per line; notes go
to stderr. Exit status 2 for a file that is not a SpillMC result. Needs h5py, numpy,
matplotlib and PyYAML (Debian's python3-*; run it with /usr/bin/python3).
"""

import argparse
import math
import os
import sys

import h5py
import numpy as np
import yaml

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

HIST_FIELDS = ["pi11", "pi12", "pi22", "upgrade_gain", "leader_loss_up", "A2_crit"]
FIELD_TITLES = {
    "pi11": "stage-1 monopoly profit of firm 1 (pi11)",
    "pi12": "stage-2 profit of the leader (pi12)",
    "pi22": "stage-2 profit of the follower (pi22)",
    "upgrade_gain": "follower's gain from upgrading (upgrade_gain = pi22_up - pi22)",
    "leader_loss_up": "leader's loss from the follower's upgrade (leader_loss_up)",
    "A2_crit": "leader's critical R&D level (A2_crit)",
}
EVENT_TITLES = {
    "leader_gains": "P(leader gains: pi12 >= pi11)",
    "spillover_condition": "P(spillover condition: 3 A1 > 2 A2)",
    "follower_active": "P(follower active: q22 > 0)",
    "follower_active_up": "P(follower active after upgrade)",
    "upgrade_gain_positive": "P(upgrade pays: upgrade_gain > 0)",
}
SQRT2 = math.sqrt(2.0)
MAX_PANELS = 12  # 3-axis sweeps: at most this many panels (values of the third axis)
DPI = 120
DISPLAY_BINS = 100  # histograms: neighbouring bins are merged down to at most this many


class NotSpillMC(Exception):
    pass


def note(msg):
    print(f"note: {msg}", file=sys.stderr)


def text(value):
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("utf-8", "replace")
    return str(value)


def texts(value):
    if isinstance(value, (str, bytes)):
        return [text(value)]
    return [text(v) for v in np.asarray(value).ravel()]


def get(f, path):
    """The dataset's value (scalar or array), or None when the file does not have it."""
    obj = f.get(path)
    if not isinstance(obj, h5py.Dataset):
        return None
    return obj[()]


def open_result(path):
    if not os.path.exists(path):
        raise NotSpillMC(f"cannot read '{path}': No such file or directory")
    if os.path.isdir(path):
        raise NotSpillMC(f"cannot read '{path}': Is a directory")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise NotSpillMC(f"'{path}' is not an HDF5 file") from None
    fmt = f.attrs.get("format")
    if fmt is None or text(fmt) != "spillmc-result":
        f.close()
        what = "no 'format' attribute" if fmt is None else \
            f"format is '{text(fmt)}', expected 'spillmc-result'"
        raise NotSpillMC(f"'{path}' is not a SpillMC result file ({what})")
    return f


# ---------------------------------------------------------------------------- config

def load_config(f):
    try:
        cfg = yaml.safe_load(text(f.attrs.get("config", ""))) or {}
    except yaml.YAMLError as e:
        note(f"cannot parse the stored config ({e}); plotting without it")
        cfg = {}
    return cfg if isinstance(cfg, dict) else {}


def num(x):
    # PyYAML (YAML 1.1) reads 1e7 as a string; SpillMC (YAML 1.2) as a number.
    return float(x)


def dist_mean(spec):
    """(mean, is_fixed) of a parameter entry of the config (docs/config.md), or None."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        return num(spec), True
    kind = spec.get("dist")
    p = {k: num(v) for k, v in spec.items() if k != "dist"}
    if kind == "fixed" and "value" in p:
        return p["value"], True
    if kind == "uniform":
        return (p["low"] + p["high"]) / 2, False
    if kind == "normal":
        return p["mean"], False
    if kind == "lognormal":
        return math.exp(p["meanlog"] + p["sdlog"] ** 2 / 2), False
    if kind == "triangular":
        return (p["low"] + p["mode"] + p["high"]) / 3, False
    if kind == "beta":
        lo, hi = p.get("low", 0.0), p.get("high", 1.0)
        return lo + (hi - lo) * p["alpha"] / (p["alpha"] + p["beta"]), False
    if kind == "truncnormal":
        mu, sd = p["mean"], p["sd"]
        al, be = (p["low"] - mu) / sd, (p["high"] - mu) / sd
        pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        cdf = lambda z: 0.5 * math.erfc(-z / SQRT2)  # noqa: E731
        mass = cdf(be) - cdf(al)
        if mass <= 0:
            return None
        return mu + sd * (pdf(al) - pdf(be)) / mass, False
    return None


def axis_spacing(cfg, name, values, attr=None):
    """'log' for a logspace axis (the axis's `spacing` attribute, the config, else geometric
    values), else 'linear'."""
    if attr is not None:
        return "log" if text(attr) == "logspace" else "linear"
    for ax in ((cfg.get("sweep") or {}).get("axes") or []):
        if isinstance(ax, dict) and ax.get("param") == name:
            if "logspace" in ax:
                return "log"
            if "linspace" in ax:
                return "linear"
    v = np.sort(values)
    if len(v) >= 3 and v[0] > 0:
        r = v[1:] / v[:-1]
        if np.allclose(r, r[0], rtol=1e-6) and not np.allclose(np.diff(v), v[1] - v[0], rtol=1e-6):
            return "log"
    return "linear"


# ---------------------------------------------------------------------------- critical line

class TheoryLine:
    """A boundary of model.md drawn over a sweep map, as the zero line of
    - kind "leader": g = A2 - A2_crit(A1, d), A2_crit = ((sqrt2 - 1) d + (sqrt2 + 1) A1) / 2:
      the leader gains (pi12 >= pi11) above it;
    - kind "entry": g = d + 3 A2p - 2 A2, i.e. A2p = A2p_entry = (2 A2 - d) / 3: the follower
      sells after its upgrade above it, and so the upgrade pays (A2p > A1 given).
    Swept parameters take their grid values, fixed ones their value, random ones their mean
    (the legend says so)."""

    NEEDS = {"leader": ("a", "c", "A1", "A2"), "entry": ("a", "c", "A1", "A2", "A2p")}

    def __init__(self, cfg, axes, kind):
        params = cfg.get("parameters") or {}
        self.kind = kind
        self.base = {}
        self.approx = []
        self.ok = True
        self.why = ""
        self.gap_form = "A2_gap" in axes or ("A2" not in axes and "A2_gap" in params)
        self.theta_form = "theta" in axes or ("A2p" not in axes and "theta" in params)
        names = [n for n in self.NEEDS[kind] if n not in ("A2", "A2p")]
        names.append("A2_gap" if self.gap_form else "A2")
        if kind == "entry":
            names.append("theta" if self.theta_form else "A2p")
        self.inputs = set(names)
        for name in names:
            if name in axes:
                continue
            m = dist_mean(params.get(name))
            if m is None:
                self.ok = False
                self.why = f"no usable value for '{name}' in the stored config"
                return
            self.base[name] = m[0]
            if not m[1]:
                self.approx.append(name)

    def depends_on(self, names):
        return any(n in self.inputs for n in names)

    def g(self, values):
        """values: {axis: array}; the signed distance to the line (NaN where undefined)."""
        v = dict(self.base)
        v.update(values)
        d = v["a"] - v["c"]
        A1 = v["A1"]
        A2 = A1 + v["A2_gap"] if self.gap_form else v["A2"]
        if self.kind == "leader":
            crit = ((SQRT2 - 1) * d + (SQRT2 + 1) * A1) / 2
            return np.where(d + A1 > 0, A2 - crit, np.nan)  # A2_crit undefined for d + A1 <= 0
        A2p = A1 + v["theta"] * (A2 - A1) if self.theta_form else v["A2p"]
        return np.where(d + A2p > 0, d + 3 * A2p - 2 * A2, np.nan)

    def label(self):
        lab = "critical line A2 = A2_crit" if self.kind == "leader" else \
            "entry line A2p = A2p_entry = (2 A2 - d) / 3"
        lab += " (model.md)"
        if self.approx:
            means = ", ".join(f"E[{n}] = {self.base[n]:.3g}" for n in self.approx)
            lab += f"\nat the means {means}"
        return lab


# ---------------------------------------------------------------------------- plain plots

def footer(fig, src):
    """The file and run the figure comes from, under the axes."""
    fig.text(0.01, 0.0, src, fontsize=7, color="grey", va="top")


def save(fig, out_dir, name, written):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    written.append(path)


def plot_histogram(f, field, out_dir, written, src):
    h = f[f"summary/{field}/histogram"]
    counts = h["counts"][()].astype(np.float64)
    edges = h["edges"][()]
    under = float(h.attrs.get("underflow", 0))
    over = float(h.attrs.get("overflow", 0))
    total = counts.sum() + under + over
    bins = len(counts)
    group = max(1, math.ceil(bins / DISPLAY_BINS))
    if group > 1:  # merge neighbouring bins: 1000 bins of a modest run are mostly noise
        starts = np.arange(0, bins, group)
        counts = np.add.reduceat(counts, starts)
        edges = np.append(edges[starts], edges[-1])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if total > 0:
        ax.stairs(counts / (total * np.diff(edges)), edges, fill=True, alpha=0.6,
                  color="tab:blue", label="density (share of draws per unit)")
    q = get(f, f"summary/{field}/quantiles")
    levels = f[f"summary/{field}/quantiles"].attrs.get("levels") if q is not None else None
    if q is not None and levels is not None:
        levels = np.asarray(levels, dtype=np.float64)
        for lev, style, colour in [(0.5, "-", "black"), (0.05, "--", "tab:red"),
                                   (0.95, "--", "tab:red")]:
            i = np.flatnonzero(np.isclose(levels, lev))
            if len(i) and np.isfinite(q[i[0]]):
                name = "median" if lev == 0.5 else f"{lev:.0%} quantile"
                ax.axvline(q[i[0]], ls=style, color=colour, lw=1.2,
                           label=f"{name} {q[i[0]]:.4g}")
    mean = get(f, f"summary/{field}/mean")
    if mean is not None and np.isfinite(mean):
        ax.axvline(mean, ls=":", color="tab:green", lw=1.2, label=f"mean {mean:.4g}")
    ax.set_xlabel(field)
    ax.set_ylabel("density")
    ax.set_title(FIELD_TITLES.get(field, field), fontsize=10)
    info = f"range: {text(h.attrs.get('range_source', '?'))}, {bins} bins"
    if group > 1:
        info += f" shown as {len(counts)}"
    if total > 0:
        info += f"\nbelow: {under / total:.2%}, above: {over / total:.2%}"
    # Legend and notes right of the axes, where they hide no bars.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.text(1.02, 0.0, info, transform=ax.transAxes, ha="left", va="bottom", fontsize=8)
    footer(fig, src)
    save(fig, out_dir, f"hist_{field}.png", written)


def plot_regimes(f, out_dir, written, src):
    sets = [(k, f[f"regimes/{k}"]) for k in ["stage2", "upgrade"] if f"regimes/{k}" in f]
    labels = texts(sets[0][1].attrs.get("labels", [str(i) for i in range(5)]))
    x = np.arange(len(labels))
    width = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for j, (name, ds) in enumerate(sets):
        counts = ds[()].astype(np.float64)
        share = counts / counts.sum() if counts.sum() > 0 else counts
        bars = ax.bar(x + (j - (len(sets) - 1) / 2) * width, share, width,
                      label="stage 2" if name == "stage2" else "after the upgrade")
        ax.bar_label(bars, labels=[f"{s:.1%}" for s in share], fontsize=7)
    ax.set_xticks(x, [lab.replace("_", " ") for lab in labels], rotation=15)
    ax.set_ylabel("share of valid draws")
    ax.set_ylim(0, 1.08)
    ax.set_title("Stackelberg regimes (model.md)", fontsize=10)
    ax.legend(fontsize=8)
    footer(fig, src)
    save(fig, out_dir, "regimes.png", written)


def plot_events(f, out_dir, written, src):
    names = list(f["events"].keys())
    p = np.array([get(f, f"events/{e}/probability") for e in names], dtype=np.float64)
    lo = np.array([get(f, f"events/{e}/ci95_low") for e in names], dtype=np.float64)
    hi = np.array([get(f, f"events/{e}/ci95_high") for e in names], dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(names) + 1.5))
    y = np.arange(len(names))
    ax.barh(y, p, xerr=np.vstack([p - lo, hi - p]), color="tab:blue", alpha=0.7, capsize=3)
    for yi, pi in zip(y, p):
        if np.isfinite(pi):
            ax.text(min(pi + 0.02, 0.9), yi, f"{pi:.4f}", va="center", fontsize=8)
    ax.set_yticks(y, [EVENT_TITLES.get(e, e) for e in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (bars: Wilson 95 % interval)")
    ax.set_title("Events", fontsize=10)
    footer(fig, src)
    save(fig, out_dir, "events.png", written)


def path_names(f):
    names = f.attrs.get("path_names")
    if names is not None:
        return texts(names)
    return [k for k in f["paths"].keys() if k != "none_pays"] if "paths" in f else []


def plot_paths(f, out_dir, written, src):
    names = [n for n in path_names(f) if f"paths/{n}" in f]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 2.5))
    cats, p, lo, hi = [], [], [], []
    for n in names + ["none_pays"]:
        base = f"paths/{n}/best" if n != "none_pays" else "paths/none_pays"
        if get(f, f"{base}/probability") is None:
            continue
        cats.append(n.replace("_", " ") if n != "none_pays" else "none pays")
        p.append(get(f, f"{base}/probability"))
        lo.append(get(f, f"{base}/ci95_low"))
        hi.append(get(f, f"{base}/ci95_high"))
    p, lo, hi = (np.array(v, dtype=np.float64) for v in (p, lo, hi))
    y = np.arange(len(cats))
    colours = [f"C{i}" for i in range(len(cats) - 1)] + ["grey"]
    a1.barh(y, p, xerr=np.vstack([p - lo, hi - p]), color=colours[:len(cats)], capsize=3)
    a1.set_yticks(y, cats, fontsize=8)
    a1.invert_yaxis()
    a1.set_xlim(0, 1)
    a1.set_xlabel("share of draws where the path is best")
    a1.set_title("Best upgrade path", fontsize=10)
    m, s, labs = [], [], []
    for n in names:
        mean = get(f, f"paths/{n}/gain/mean")
        if mean is None:
            continue
        sem = get(f, f"paths/{n}/gain/sem")
        m.append(mean)
        s.append(1.96 * sem if sem is not None and np.isfinite(sem) else 0.0)
        labs.append(n.replace("_", " "))
    y = np.arange(len(labs))
    a2.barh(y, m, xerr=s, color=[f"C{i}" for i in range(len(labs))], capsize=3)
    a2.axvline(0, color="black", lw=0.8)
    a2.set_yticks(y, labs, fontsize=8)
    a2.invert_yaxis()
    a2.set_xlabel("mean net gain (bars: 95 % interval of the mean)")
    a2.set_title("Gain per path", fontsize=10)
    footer(fig, src)
    fig.tight_layout()
    save(fig, out_dir, "paths.png", written)


# ---------------------------------------------------------------------------- sweeps

class Sweep:
    def __init__(self, f, cfg):
        self.axes = texts(f.attrs["sweep_axes"])
        self.coords = []
        self.order = []
        for a in self.axes:
            v = np.asarray(f[f"sweep/{a}"][()], dtype=np.float64)
            self.order.append(np.argsort(v, kind="stable"))  # plot in increasing order
            self.coords.append(v[self.order[-1]])
        self.spacing = [axis_spacing(cfg, a, v, f[f"sweep/{a}"].attrs.get("spacing"))
                        for a, v in zip(self.axes, self.coords)]
        self.shape = tuple(len(v) for v in self.coords)

    def grid(self, f, path):
        """The grid dataset (first len(axes) dims sorted by coordinate), or None."""
        data = get(f, path)
        if data is None:
            return None
        data = np.asarray(data, dtype=np.float64)
        if data.shape[:len(self.axes)] != self.shape:
            note(f"/{path} has shape {data.shape}, expected {self.shape} + ...; skipped")
            return None
        for i, o in enumerate(self.order):
            data = np.take(data, o, axis=i)
        return data

    def edges(self, i):
        v = self.coords[i]
        log = self.spacing[i] == "log" and v[0] > 0
        w = np.log(v) if log else v
        if len(w) == 1:
            half = 0.1 if log else 0.5  # one value: a cell of width 1 (or a factor e^0.2)
            e = np.array([w[0] - half, w[0] + half])
        else:
            mid = (w[1:] + w[:-1]) / 2
            e = np.concatenate([[w[0] - (mid[0] - w[0])], mid, [w[-1] + (w[-1] - mid[-1])]])
        return np.exp(e) if log else e

    def set_scale(self, ax, i, which):
        if self.spacing[i] == "log" and self.coords[i][0] > 0:
            (ax.set_xscale if which == "x" else ax.set_yscale)("log")


def panel_layout(n):
    cols = min(n, 4)
    return (n + cols - 1) // cols, cols


def finish_map_panel(ax, sw, k, n, cols, title=None):
    """Scales, title and axis labels of panel k of n in a grid of 2-D maps (x labels on the
    lowest panel of each column, y labels on the first column)."""
    sw.set_scale(ax, 0, "x")
    sw.set_scale(ax, 1, "y")
    if title is not None:
        ax.set_title(title, fontsize=9)
    if k + cols >= n:
        ax.set_xlabel(sw.axes[0])
    if k % cols == 0:
        ax.set_ylabel(sw.axes[1])


def hide_unused(axs, n, rows, cols):
    for k in range(n, rows * cols):
        axs[k // cols][k % cols].set_visible(False)


def panels_for(sw):
    """For 3-axis sweeps: the indices of the third axis to draw (at most MAX_PANELS)."""
    n = sw.shape[2]
    if n <= MAX_PANELS:
        return list(range(n))
    idx = sorted(set(np.linspace(0, n - 1, MAX_PANELS).round().astype(int)))
    note(f"{sw.axes[2]} has {n} values; drawing {len(idx)} of them")
    return idx


def draw_critical_1d(ax, sw, crit):
    xs = np.linspace(sw.coords[0][0], sw.coords[0][-1], 2001)
    if sw.spacing[0] == "log" and sw.coords[0][0] > 0:
        xs = np.geomspace(sw.coords[0][0], sw.coords[0][-1], 2001)
    g = crit.g({sw.axes[0]: xs})
    s = np.sign(g)
    cross = np.flatnonzero(np.isfinite(s[:-1]) & np.isfinite(s[1:]) & (s[:-1] != s[1:]))
    for k, i in enumerate(cross):
        ax.axvline(xs[i], color="black", ls="--", lw=1.2, label=crit.label() if k == 0 else None)
    return len(cross) > 0


def draw_critical_2d(ax, sw, crit, third=None):
    def fine(i):
        lo, hi = sw.coords[i][0], sw.coords[i][-1]
        if sw.spacing[i] == "log" and lo > 0:
            return np.geomspace(lo, hi, 300)
        return np.linspace(lo, hi, 300)

    xs, ys = fine(0), fine(1)
    X, Y = np.meshgrid(xs, ys)
    values = {sw.axes[0]: X, sw.axes[1]: Y}
    if third is not None:
        values[sw.axes[2]] = np.full_like(X, sw.coords[2][third])
    G = crit.g(values)
    if not np.any(np.isfinite(G)) or np.nanmin(G) > 0 or np.nanmax(G) < 0:
        return False
    ax.contour(X, Y, G, levels=[0], colors="white", linewidths=2.2)
    ax.contour(X, Y, G, levels=[0], colors="black", linewidths=1.2, linestyles="--")
    return True


def sweep_figure(sw, data, kind, title, crit=None, band=None):
    """data: grid-shaped. kind: 'prob' (0..1) or 'value'. band: (lo, hi) for 1-axis sweeps."""
    nd = len(sw.axes)
    drawn_crit = False
    if nd == 1:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        x = sw.coords[0]
        ax.plot(x, data, "o-", ms=3, color="tab:blue", label="estimate")
        if band is not None:
            ax.fill_between(x, band[0], band[1], alpha=0.3, color="tab:blue",
                            label="95 % interval")
        if crit is not None:
            drawn_crit = draw_critical_1d(ax, sw, crit)
        sw.set_scale(ax, 0, "x")
        ax.set_xlabel(sw.axes[0])
        ax.set_ylabel(title)
        if kind == "prob":
            ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        return fig, drawn_crit
    cmap = plt.get_cmap("viridis" if kind == "prob" else "magma").copy()
    cmap.set_bad("lightgrey")
    finite = data[np.isfinite(data)]
    vmin, vmax = (0.0, 1.0) if kind == "prob" else \
        ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if vmin == vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    panels = [None] if nd == 2 else panels_for(sw)
    rows, cols = panel_layout(len(panels))
    fig, axs = plt.subplots(rows, cols, figsize=(4.6 * cols + 1.2, 3.9 * rows + 0.6),
                            squeeze=False, sharex=True, sharey=True)
    mesh = None
    for k, third in enumerate(panels):
        ax = axs[k // cols][k % cols]
        z = data if third is None else data[:, :, third]
        mesh = ax.pcolormesh(sw.edges(0), sw.edges(1), np.ma.masked_invalid(z.T), cmap=cmap,
                             vmin=vmin, vmax=vmax, shading="flat")
        if kind == "prob" and np.nanmin(z) < 0.5 < np.nanmax(z) and min(z.shape) > 1:
            ax.contour(sw.coords[0], sw.coords[1], z.T, levels=[0.5], colors="tab:red",
                       linewidths=1.6, linestyles=":")
        if kind == "value" and min(z.shape) > 1 and np.isfinite(z).sum() > 3:
            # Labelled iso-lines: the colour scale alone hides the small values.
            # Levels strictly inside the range: a level at the minimum traces noise.
            levels = [v for v in MaxNLocator(7).tick_values(vmin, vmax)
                      if vmin + 1e-9 * (vmax - vmin) < v < vmax]
            if levels:
                cs = ax.contour(sw.coords[0], sw.coords[1], np.ma.masked_invalid(z.T),
                                levels=levels, colors="white", linewidths=0.7, alpha=0.8)
                ax.clabel(cs, fontsize=7, fmt="%.3g")
        if crit is not None:
            drawn_crit |= draw_critical_2d(ax, sw, crit, third)
        finish_map_panel(ax, sw, k, len(panels), cols,
                         None if third is None else f"{sw.axes[2]} = {sw.coords[2][third]:.4g}")
    hide_unused(axs, len(panels), rows, cols)
    fig.colorbar(mesh, ax=axs, shrink=0.9, label=title)
    handles = []
    if kind == "prob":
        handles.append(plt.Line2D([], [], color="tab:red", ls=":", lw=1.6,
                                  label="estimated probability = 0.5"))
    if drawn_crit:
        handles.append(plt.Line2D([], [], color="black", ls="--", label=crit.label()))
    if handles:
        fig.legend(handles=handles, loc="upper left", fontsize=8, bbox_to_anchor=(0.0, -0.03))
    fig.suptitle(title, fontsize=10)
    return fig, drawn_crit


def plot_sweep_event(f, sw, event, out_dir, written, src, crit=None):
    base = f"sweep/events/{event}"
    p = sw.grid(f, f"{base}/probability")
    band = None
    if len(sw.axes) == 1:
        lo, hi = sw.grid(f, f"{base}/ci95_low"), sw.grid(f, f"{base}/ci95_high")
        band = (lo, hi) if lo is not None and hi is not None else None
    fig, drawn = sweep_figure(sw, p, "prob", EVENT_TITLES.get(event, event), crit, band)
    if crit is not None and not drawn:
        note(f"{event}: the {crit.label().splitlines()[0]} does not cross the plotted range")
    footer(fig, src)
    save(fig, out_dir, f"sweep_{event}.png", written)


def plot_sweep_mean(f, sw, field, out_dir, written, src):
    base = f"sweep/summary/{field}"
    m = sw.grid(f, f"{base}/mean")
    band = None
    if len(sw.axes) == 1:
        sem = sw.grid(f, f"{base}/sem")
        if sem is not None:
            band = (m - 1.96 * sem, m + 1.96 * sem)
    fig, _ = sweep_figure(sw, m, "value", f"mean {field}", None, band)
    footer(fig, src)
    save(fig, out_dir, f"sweep_{field}_mean.png", written)


def plot_sweep_paths(f, sw, out_dir, written, src):
    names = path_names(f)
    share = sw.grid(f, "sweep/paths/best_share")
    none = sw.grid(f, "sweep/paths/none_pays")
    if share is None:
        return
    if share.shape[-1] != len(names):
        names = [f"path {i}" for i in range(share.shape[-1])]
    cats = [n.replace("_", " ") for n in names]
    if none is not None:
        share = np.concatenate([share, none[..., None]], axis=-1)
        cats.append("none pays")
    colours = [f"C{i}" for i in range(len(names))] + (["lightgrey"] if none is not None else [])
    nd = len(sw.axes)
    if nd == 1:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        ax.stackplot(sw.coords[0], np.nan_to_num(share.T), labels=cats, colors=colours, alpha=0.85)
        sw.set_scale(ax, 0, "x")
        ax.set_xlabel(sw.axes[0])
        ax.set_ylabel("share of draws")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title("Best upgrade path over the sweep", fontsize=10)
        footer(fig, src)
        save(fig, out_dir, "sweep_best_path.png", written)
        return
    best = np.where(np.all(np.isnan(share), axis=-1), np.nan,
                    np.argmax(np.nan_to_num(share, nan=-1.0), axis=-1))
    cmap = ListedColormap(colours)
    cmap.set_bad("white")
    norm = BoundaryNorm(np.arange(len(cats) + 1) - 0.5, len(cats))
    panels = [None] if nd == 2 else panels_for(sw)
    rows, cols = panel_layout(len(panels))
    fig, axs = plt.subplots(rows, cols, figsize=(4.6 * cols + 1.5, 3.9 * rows + 0.6),
                            squeeze=False, sharex=True, sharey=True)
    for k, third in enumerate(panels):
        ax = axs[k // cols][k % cols]
        z = best if third is None else best[:, :, third]
        ax.pcolormesh(sw.edges(0), sw.edges(1), np.ma.masked_invalid(z.T), cmap=cmap, norm=norm,
                      shading="flat")
        finish_map_panel(ax, sw, k, len(panels), cols,
                         None if third is None else f"{sw.axes[2]} = {sw.coords[2][third]:.4g}")
    hide_unused(axs, len(panels), rows, cols)
    fig.legend(handles=[Patch(color=c, label=lab) for c, lab in zip(colours, cats)],
               loc="center right", fontsize=8, title="most often best")
    fig.suptitle("Best upgrade path (the path best in most draws of the cell)", fontsize=10)
    fig.subplots_adjust(right=0.8)
    footer(fig, src)
    save(fig, out_dir, "sweep_best_path.png", written)
    if nd == 2:
        rows, cols = panel_layout(len(cats))
        fig, axs = plt.subplots(rows, cols, figsize=(4.2 * cols + 1.2, 3.6 * rows + 0.6),
                                squeeze=False, sharex=True, sharey=True)
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("lightgrey")
        mesh = None
        for k, lab in enumerate(cats):
            ax = axs[k // cols][k % cols]
            mesh = ax.pcolormesh(sw.edges(0), sw.edges(1), np.ma.masked_invalid(share[..., k].T),
                                 cmap=cmap, vmin=0, vmax=1, shading="flat")
            finish_map_panel(ax, sw, k, len(cats), cols, lab)
        hide_unused(axs, len(cats), rows, cols)
        fig.colorbar(mesh, ax=axs, shrink=0.9, label="share of draws where it is best")
        fig.suptitle("Share of draws where each path is best", fontsize=10)
        footer(fig, src)
        save(fig, out_dir, "sweep_path_shares.png", written)


# ---------------------------------------------------------------------------- plan

def plan(f, cfg):
    """(file name, description, function(out_dir, written, src)) for what the file holds."""
    items = []
    for field in HIST_FIELDS:
        if f"summary/{field}/histogram/counts" in f and f"summary/{field}/histogram/edges" in f:
            items.append((f"hist_{field}.png", f"histogram of {field}",
                          lambda o, w, s, fl=field: plot_histogram(f, fl, o, w, s)))
    if "regimes/stage2" in f or "regimes/upgrade" in f:
        items.append(("regimes.png", "regime shares, stage 2 and upgrade",
                      lambda o, w, s: plot_regimes(f, o, w, s)))
    if "events" in f and len(f["events"]) > 0:
        items.append(("events.png", "event probabilities", lambda o, w, s: plot_events(f, o, w, s)))
    if "paths" in f and (get(f, "paths/none_pays/probability") is not None or
                         any(f"paths/{n}/best/probability" in f for n in path_names(f))):
        items.append(("paths.png", "best-path shares and mean gains",
                      lambda o, w, s: plot_paths(f, o, w, s)))
    if "sweep_axes" in f.attrs and "sweep" in f:
        sw = Sweep(f, cfg)
        if len(sw.axes) > 3:
            note(f"{len(sw.axes)} sweep axes; only 1 to 3 are plotted")
            return items
        def line(kind, what):
            t = TheoryLine(cfg, sw.axes, kind)
            if not t.ok:
                note(f"{what} not drawn: {t.why}")
            elif not t.depends_on(sw.axes):  # 3 axes: the third is fixed per panel
                note(f"{what} not drawn: it does not vary with the axes ({', '.join(sw.axes)})")
            else:
                return t
            return None

        if "sweep/events/leader_gains/probability" in f:
            crit = line("leader", "critical line A2 = A2_crit")
            items.append(("sweep_leader_gains.png", "P(leader gains) over the sweep",
                          lambda o, w, s: plot_sweep_event(f, sw, "leader_gains", o, w, s, crit)))
        if "sweep/events/upgrade_gain_positive/probability" in f:
            entry = line("entry", "entry line A2p = A2p_entry")
            items.append(("sweep_upgrade_gain_positive.png", "P(upgrade pays) over the sweep",
                          lambda o, w, s: plot_sweep_event(f, sw, "upgrade_gain_positive", o, w,
                                                           s, entry)))
        if "sweep/summary/upgrade_gain/mean" in f:
            items.append(("sweep_upgrade_gain_mean.png", "mean upgrade_gain over the sweep",
                          lambda o, w, s: plot_sweep_mean(f, sw, "upgrade_gain", o, w, s)))
        if "sweep/paths/best_share" in f:
            items.append(("sweep_best_path.png", "best path over the sweep (and per-path shares)",
                          lambda o, w, s: plot_sweep_paths(f, sw, o, w, s)))
    return items


def source_line(f, path):
    parts = [os.path.basename(path)]
    for key in ["model", "draws_valid", "seed", "program_version"]:
        if key in f.attrs:
            parts.append(f"{key} {text(f.attrs[key])}")
    if "sweep_axes" in f.attrs:
        parts.append("sweep over " + " x ".join(texts(f.attrs["sweep_axes"])))
    return ", ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Plots a SpillMC result file as PNG figures (see the module docstring).")
    ap.add_argument("file", help="SpillMC result file (.h5)")
    ap.add_argument("-o", "--out-dir", help="directory for the PNGs (default: FILE minus .h5, "
                    "plus _plots)")
    ap.add_argument("--list", action="store_true",
                    help="print the figures this file supports and exit, writing nothing")
    args = ap.parse_args(argv)
    try:
        f = open_result(args.file)
    except NotSpillMC as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 2
    with f:
        cfg = load_config(f)
        items = plan(f, cfg)
        if args.list:
            for name, desc, _ in items:
                print(f"{name:34s} {desc}")
            return 0
        out_dir = args.out_dir or (os.path.splitext(args.file)[0] + "_plots")
        os.makedirs(out_dir, exist_ok=True)
        if not items:
            note(f"'{args.file}' holds nothing to plot")
        written = []
        src = source_line(f, args.file)
        for _, _, fn in items:
            fn(out_dir, written, src)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
