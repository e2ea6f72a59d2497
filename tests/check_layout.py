#!/usr/bin/python3
"""Checks the layout and the self-consistency of a SpillMC result file.

Usage: /usr/bin/python3 tests/check_layout.py RESULT.h5

The layout is the one documented in docs/output.md (format_version 3). Of the
analyses (docs/output.md, "Analyses") it checks the histograms and /state/hist
and only allows the other groups and their root attributes (check_quantiles.py,
check_sweep_layout.py and check_draws.py check those). The
names of fields, events, regimes and invalid reasons are read from
include/spillmc/fields.hpp, so this script follows that table. Exit status:
0 when the file is fine, 1 with one line per problem otherwise, 2 when the
file cannot be opened or the script is misused.
"""

import math
import os
import re
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS_HPP = os.path.join(HERE, os.pardir, "include", "spillmc", "fields.hpp")


def names_from_header(array):
    """The string literals of `array` (e.g. kFieldNames) in fields.hpp."""
    with open(FIELDS_HPP, encoding="utf-8") as f:
        text = f.read()
    m = re.search(re.escape(array) + r"\[[^\]]*\]\s*=\s*\{(.*?)\};", text, re.S)
    if not m:
        sys.exit(f"check_layout: cannot find {array} in {FIELDS_HPP}")
    return re.findall(r'"([^"]*)"', m.group(1))


FIELDS = names_from_header("kFieldNames")
EVENTS = names_from_header("kEventNames")
REGIME_LABELS = names_from_header("kRegimeLabels")
INVALID = names_from_header("kInvalidNames")

STRING_ATTRS = ["format", "program_version", "git_commit", "config", "model", "backend",
                "device", "created", "kind", "config_hash", "file_checksum"]
UINT64_ATTRS = ["seed", "draws_requested", "draws_valid", "draws_invalid", "block_draws",
                "shard_index", "shard_count"]
STATE_UINT64_ATTRS = ["segment_first", "segment_end", "segment_count_total", "segment_blocks"]
# Columns of /state/counts: draws, valid, a2crit_undefined, then per-reason,
# per-event, per-regime (stage2, upgrade) and per-field counts.
FLOAT64_ATTRS = ["wall_seconds", "draws_per_second"]
INT_ATTRS = ["format_version"]
STATS = ["count", "mean", "std", "sem", "min", "max"]
QUANTILE_KEYS = ["histogram", "quantile_bounds", "quantiles"]
ANALYSIS_GROUPS = ["conditional", "paths", "sweep", "sensitivity", "draws"]
ANALYSIS_ATTRS = ["path_names", "sweep_axes"]
EVENT_DATASETS = ["count", "probability", "ci95_low", "ci95_high"]

problems = []
warnings = []
ROUNDING = 1e-12  # absolute slack for computed bounds of probabilities in [0, 1]


def problem(msg):
    problems.append(msg)


def warn(msg):
    warnings.append(msg)


def is_utf8_vlen_string(dtype):
    info = h5py.check_string_dtype(dtype)
    return info is not None and info.length is None and info.encoding == "utf-8"


def check_keys(where, actual, expected):
    actual, expected = set(actual), set(expected)
    if actual != expected:
        missing = sorted(expected - actual)
        extra = sorted(actual - expected)
        problem(f"{where}: missing {missing}, unexpected {extra}")
        return False
    return True


def scalar(group, name, dtype):
    """The value of scalar dataset group/name if it has `dtype`, else None."""
    obj = group.get(name)
    where = f"{group.name.rstrip('/')}/{name}"
    if not isinstance(obj, h5py.Dataset):
        problem(f"{where}: not a dataset")
        return None
    if obj.shape != ():
        problem(f"{where}: shape {obj.shape}, expected scalar ()")
        return None
    if obj.dtype != np.dtype(dtype):
        problem(f"{where}: type {obj.dtype}, expected {np.dtype(dtype)}")
        return None
    return obj[()]


def close(a, b, rel=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def check_attributes(f):
    attrs = f.attrs
    expected = STRING_ATTRS + UINT64_ATTRS + FLOAT64_ATTRS + INT_ATTRS
    check_keys("root attributes", set(attrs.keys()) - set(ANALYSIS_ATTRS), expected)
    ok = True
    for name in expected:
        if name not in attrs:
            ok = False
            continue
        aid = attrs.get_id(name)
        if aid.shape != ():
            problem(f"attribute {name}: shape {aid.shape}, expected scalar ()")
            ok = False
        if name in STRING_ATTRS:
            if not is_utf8_vlen_string(aid.dtype) or not isinstance(attrs[name], str):
                problem(f"attribute {name}: not a variable-length UTF-8 string ({aid.dtype})")
                ok = False
        elif name in UINT64_ATTRS:
            if aid.dtype != np.uint64:
                problem(f"attribute {name}: type {aid.dtype}, expected uint64")
                ok = False
        elif name in FLOAT64_ATTRS:
            if aid.dtype != np.float64:
                problem(f"attribute {name}: type {aid.dtype}, expected float64")
                ok = False
        elif aid.dtype.kind != "i":
            problem(f"attribute {name}: type {aid.dtype}, expected a signed integer")
            ok = False
    if not ok:
        return None

    if attrs["format"] != "spillmc-result":
        problem(f"attribute format is {attrs['format']!r}, expected 'spillmc-result'")
    if int(attrs["format_version"]) != 3:
        problem(f"attribute format_version is {attrs['format_version']}, expected 3")
    if attrs["kind"] not in ("result", "shard"):
        problem(f"attribute kind is {attrs['kind']!r}, expected 'result' or 'shard'")
    for name in ("config_hash", "file_checksum"):
        if not re.fullmatch(r"fnv1a64:[0-9a-f]{16}", attrs[name]):
            problem(f"attribute {name} {attrs[name]!r} is not fnv1a64:<16 hex digits>")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", attrs["created"]):
        problem(f"attribute created {attrs['created']!r} is not UTC ISO 8601 (YYYY-MM-DDThh:mm:ssZ)")
    if attrs["model"] not in ("constrained", "paper"):
        problem(f"attribute model is {attrs['model']!r}")
    if attrs["backend"] not in ("cpu", "cuda"):
        problem(f"attribute backend is {attrs['backend']!r}")
    requested = int(attrs["draws_requested"])
    valid = int(attrs["draws_valid"])
    invalid = int(attrs["draws_invalid"])
    if attrs["kind"] == "result" and valid + invalid != requested:
        problem(f"draws_valid {valid} + draws_invalid {invalid} != draws_requested {requested}")
    if attrs["kind"] == "shard" and valid + invalid > requested:
        problem(f"draws_valid {valid} + draws_invalid {invalid} > draws_requested {requested}")
    if int(attrs["block_draws"]) <= 0:
        problem("attribute block_draws is 0")
    wall = float(attrs["wall_seconds"])
    rate = float(attrs["draws_per_second"])
    if not (math.isfinite(wall) and wall >= 0):
        problem(f"attribute wall_seconds is {wall}")
    covered = valid + invalid  # draws_requested for a result; a shard's share for a shard
    want = covered / wall if wall > 0 else 0.0
    if not close(rate, want):
        problem(f"draws_per_second {rate} != (draws_valid + draws_invalid) / wall_seconds = {want}")
    return valid, invalid


def check_summary(f, valid, undefined):
    g = f["summary"]
    check_keys("/summary", g.keys(), FIELDS)
    for field in FIELDS:
        if not isinstance(g.get(field), h5py.Group):
            continue
        fg = g[field]
        where = f"/summary/{field}"
        with_quantiles = field in hist_fields(f)
        if not check_keys(where, fg.keys(), STATS + (QUANTILE_KEYS if with_quantiles else [])):
            continue
        n = scalar(fg, "count", np.uint64)
        vals = {s: scalar(fg, s, np.float64) for s in STATS[1:]}
        if n is None or any(v is None for v in vals.values()):
            continue
        n = int(n)
        want_n = valid - undefined if field == "A2_crit" else valid
        if n != want_n:
            extra = " (draws_valid - undefined/A2_crit)" if field == "A2_crit" else " (draws_valid)"
            problem(f"{where}/count is {n}, expected {want_n}{extra}")
        mean, std, sem, lo, hi = (float(vals[s]) for s in ("mean", "std", "sem", "min", "max"))
        if n == 0:
            for s in STATS[1:]:
                if not math.isnan(vals[s]):
                    problem(f"{where}/{s} is {vals[s]}, expected NaN for count 0")
            continue
        for s, v in (("mean", mean), ("min", lo), ("max", hi)):
            if not math.isfinite(v):
                problem(f"{where}/{s} is {v} with count {n}")
        if n == 1:
            for s, v in (("std", std), ("sem", sem)):
                if not math.isnan(v):
                    problem(f"{where}/{s} is {v}, expected NaN for count 1")
        else:
            if not (math.isfinite(std) and std >= 0 and std * std * (n - 1) >= 0):
                problem(f"{where}/std is {std}")
            elif not close(sem, std / math.sqrt(n), 1e-9):
                problem(f"{where}/sem {sem} != std/sqrt(count) = {std / math.sqrt(n)}")
        # The mean may sit a rounding error outside [min, max].
        slack = 1e-12 * max(abs(lo), abs(hi))
        if not (lo <= hi and lo - slack <= mean <= hi + slack):
            problem(f"{where}: not min <= mean <= max ({lo}, {mean}, {hi})")
        if lo == hi and n >= 2 and std > 1e-12 * max(abs(lo), 1.0):
            problem(f"{where}: std {std} but min == max")


def check_events(f, valid):
    g = f["events"]
    check_keys("/events", g.keys(), EVENTS)
    for event in EVENTS:
        if not isinstance(g.get(event), h5py.Group):
            continue
        eg = g[event]
        where = f"/events/{event}"
        if not check_keys(where, eg.keys(), EVENT_DATASETS):
            continue
        count = scalar(eg, "count", np.uint64)
        p, lo, hi = (scalar(eg, s, np.float64) for s in EVENT_DATASETS[1:])
        if count is None or p is None or lo is None or hi is None:
            continue
        count, p, lo, hi = int(count), float(p), float(lo), float(hi)
        if valid == 0:
            if not all(math.isnan(x) for x in (p, lo, hi)):
                problem(f"{where}: expected NaN probability and interval with 0 valid draws")
            if count != 0:
                problem(f"{where}/count is {count} with 0 valid draws")
            continue
        if count > valid:
            problem(f"{where}/count {count} > draws_valid {valid}")
        if not close(p, count / valid, 1e-15):
            problem(f"{where}/probability {p} != count/draws_valid = {count / valid}")
        if not (0.0 <= lo <= hi <= 1.0):
            problem(f"{where}: not 0 <= ci95_low <= ci95_high <= 1 ({lo}, {hi})")
        elif not (lo - ROUNDING <= p <= hi + ROUNDING):
            problem(f"{where}: probability {p} outside [ci95_low, ci95_high] = [{lo}, {hi}]")
        elif not (lo <= p <= hi):
            # Wilson bounds are computed, so at count 0 or count == draws_valid
            # the bound can miss p by a rounding error: worth a note, not a failure.
            warn(f"{where}: probability {p} misses [ci95_low, ci95_high] = [{lo}, {hi}] "
                 f"by rounding ({max(lo - p, p - hi):.3g})")


def check_regimes(f, valid):
    g = f["regimes"]
    check_keys("/regimes", g.keys(), ["stage2", "upgrade"])
    for name in ("stage2", "upgrade"):
        d = g.get(name)
        where = f"/regimes/{name}"
        if not isinstance(d, h5py.Dataset):
            continue
        if d.dtype != np.int64 or d.shape != (len(REGIME_LABELS),):
            problem(f"{where}: {d.dtype}{d.shape}, expected int64({len(REGIME_LABELS)},)")
            continue
        check_keys(f"{where} attributes", d.attrs.keys(), ["labels"])
        if "labels" in d.attrs:
            aid = d.attrs.get_id("labels")
            labels = d.attrs["labels"]
            if not is_utf8_vlen_string(aid.dtype) or aid.shape != (len(REGIME_LABELS),):
                problem(f"{where}/labels: {aid.dtype}{aid.shape}, expected "
                        f"variable-length UTF-8 strings ({len(REGIME_LABELS)},)")
            elif [str(x) for x in labels] != REGIME_LABELS:
                problem(f"{where}/labels are {list(labels)}, expected {REGIME_LABELS}")
        counts = d[()]
        if (counts < 0).any():
            problem(f"{where}: negative counts {counts.tolist()}")
        if int(counts.sum()) != valid:
            problem(f"{where}: counts sum to {int(counts.sum())}, expected draws_valid {valid}")


def hist_fields(f):
    """The histogrammed fields in the config's order, or [] when the run has
    none or covers no draws (a shard with no segments). The effective config
    spells them out (`histograms:`, `  bins: N`, `  fields: [...]`) unless they
    are the default: the outputs (every field after the six parameters) for a
    plain run, none for a sweep (docs/config.md)."""
    config = f.attrs.get("config", "")
    if int(f.attrs.get("draws_valid", 0)) + int(f.attrs.get("draws_invalid", 0)) == 0:
        return []
    m = re.search(r"^histograms:\n  bins: \d+\n  fields: \[([^\]]*)\]", config, re.M)
    if m:
        return [name.strip() for name in m.group(1).split(",")]
    if re.search(r"^(histograms: false|sweep:)$", config, re.M):
        return []
    return FIELDS[6:]


def check_histograms(f):
    """Each histogram holds its field's count; /state/hist is theirs, in order."""
    fields = hist_fields(f)
    state = f["state"]
    if not fields:
        if "hist" in state:
            problem("/state/hist present, but the config histograms no field (or no draws)")
        return
    slots = []
    for field in fields:
        fg = f["summary"].get(field)
        if not isinstance(fg, h5py.Group) or not isinstance(fg.get("histogram"), h5py.Group):
            return  # reported by check_summary
        h = fg["histogram"]
        where = f"/summary/{field}/histogram"
        if not isinstance(h.get("counts"), h5py.Dataset) or h["counts"].dtype != np.uint64:
            problem(f"{where}/counts: missing or not uint64")
            return
        counts = [int(c) for c in h["counts"][()]]
        under, over = int(h.attrs.get("underflow", -1)), int(h.attrs.get("overflow", -1))
        n = scalar(fg, "count", np.uint64)
        if n is not None and under + sum(counts) + over != int(n):
            problem(f"{where}: underflow + counts + overflow = {under + sum(counts) + over}, "
                    f"expected count {int(n)}")
        slots += [under] + counts + [over]
    d = state.get("hist")
    if not isinstance(d, h5py.Dataset):
        problem("/state/hist missing")
        return
    if d.dtype != np.uint64 or d.shape != (len(slots),):
        problem(f"/state/hist: {d.dtype}{d.shape}, expected uint64({len(slots)},)")
        return
    if [int(c) for c in d[()]] != slots:
        problem("/state/hist differs from the histograms under /summary, in the config's field "
                "order (underflow, counts, overflow per field)")


def check_state(f, valid, invalid):
    g = f["state"]
    optional = [k for k in ("extra", "hist") if k in g]
    check_keys("/state", g.keys(), ["counts", "moments"] + optional)
    check_keys("/state attributes", g.attrs.keys(), STATE_UINT64_ATTRS + ["checksum"])
    for name in STATE_UINT64_ATTRS:
        if name in g.attrs and (g.attrs.get_id(name).dtype != np.uint64
                                or g.attrs.get_id(name).shape != ()):
            problem(f"/state attribute {name}: not a uint64 scalar")
            return
    if "checksum" in g.attrs and not is_utf8_vlen_string(g.attrs.get_id("checksum").dtype):
        problem("/state attribute checksum: not a variable-length UTF-8 string")
    if not all(isinstance(g.get(k), h5py.Dataset) for k in ("counts", "moments")):
        return
    counts, moments = g["counts"], g["moments"]
    ncols = 3 + len(INVALID) + len(EVENTS) + 2 * len(REGIME_LABELS) + len(FIELDS)
    if counts.dtype != np.uint64 or counts.ndim != 2 or counts.shape[1] != ncols:
        problem(f"/state/counts: {counts.dtype}{counts.shape}, expected uint64(n, {ncols})")
        return
    if moments.dtype != np.float64 or moments.shape != (counts.shape[0], len(FIELDS), 5):
        problem(f"/state/moments: {moments.dtype}{moments.shape}, expected "
                f"float64({counts.shape[0]}, {len(FIELDS)}, 5)")
        return
    if not all(n in g.attrs for n in STATE_UINT64_ATTRS):
        return
    first, end = int(g.attrs["segment_first"]), int(g.attrs["segment_end"])
    if end - first != counts.shape[0]:
        problem(f"/state holds {counts.shape[0]} segments, segment_end - segment_first = "
                f"{end - first}")
    c = counts[()].astype(object)  # exact Python ints
    if counts.shape[0] and (sum(c[:, 0]) != valid + invalid or sum(c[:, 1]) != valid):
        problem("/state counts do not add up to draws_valid and draws_invalid")


def check_file(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        print(f"check_layout: cannot open {path}: {e}", file=sys.stderr)
        return 2
    with f:
        counts = check_attributes(f)
        check_keys("root groups", set(f.keys()) - set(ANALYSIS_GROUPS),
                   ["summary", "undefined", "events", "regimes", "invalid", "state"])
        if counts is not None:
            valid, invalid = counts
            if isinstance(f.get("state"), h5py.Group):
                check_state(f, valid, invalid)
            undefined = 0
            if isinstance(f.get("undefined"), h5py.Group):
                ug = f["undefined"]
                check_keys("/undefined", ug.keys(), ["A2_crit"])
                if "A2_crit" in ug:
                    u = scalar(ug, "A2_crit", np.uint64)
                    undefined = int(u) if u is not None else 0
                    if undefined > valid:
                        problem(f"/undefined/A2_crit {undefined} > draws_valid {valid}")
            if isinstance(f.get("summary"), h5py.Group):
                check_summary(f, valid, undefined)
                if isinstance(f.get("state"), h5py.Group):
                    check_histograms(f)
            if isinstance(f.get("events"), h5py.Group):
                check_events(f, valid)
            if isinstance(f.get("regimes"), h5py.Group):
                check_regimes(f, valid)
            if isinstance(f.get("invalid"), h5py.Group):
                g = f["invalid"]
                check_keys("/invalid", g.keys(), INVALID)
                values = [scalar(g, name, np.uint64) for name in INVALID if name in g]
                if all(v is not None for v in values) and sum(int(v) for v in values) != invalid:
                    problem(f"/invalid counts sum to {sum(int(v) for v in values)}, "
                            f"expected draws_invalid {invalid}")
    for w in warnings:
        print(f"check_layout: {path}: warning: {w}", file=sys.stderr)
    for p in problems:
        print(f"check_layout: {path}: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_layout: {path}: OK")
    return 0


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return check_file(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
