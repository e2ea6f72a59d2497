#!/usr/bin/python3
"""Checks a result's histograms, quantiles and conditional tallies against its stored draws.

Needs a plain run (no sweep) with `output.draws: all` and every histogrammed
field (and, for conditions, the fields their events use) in `output.fields`.
Over the valid draws (/draws/status == -1; A2_crit also without NaN):

  * histogram counts + underflow + overflow == /summary/<f>/count == the
    number of stored values, and the counts equal numpy's histogram of the
    stored values over the reported edges (bins by index: [e_k, e_k+1), the
    last bin closed);
  * for each level q, numpy's np.quantile(x, q, method='inverted_cdf') lies in
    /summary/<f>/quantile_bounds[i], the point estimate quantiles[i] lies in
    it too, and a bound inside the range is at most one bin wide;
  * /conditional/<c>/count is the number of valid draws where the condition
    (model.md: leader_gains pi12 >= pi11, spillover_condition 3 A1 > 2 A2,
    follower_active q22 > 0, follower_active_up q22_up > 0,
    upgrade_gain_positive upgrade_gain > 0; not_<e> its negation) holds, and
    /conditional/<c>/summary/<f>/{count, mean, std, min, max} match numpy over
    those draws (mean and std to rtol 1e-9, std with ddof 1; count, min, max
    exactly).

Exits 0 when everything matches, 1 with one line per problem, 2 when the file
cannot be checked (no /draws, a field not stored, nothing histogrammed), 77
when h5py or NumPy is missing.

  /usr/bin/python3 tests/check_quantiles.py RESULT.h5 [--conditions]
  /usr/bin/python3 tests/check_quantiles.py --run SPILLMC CONFIG [SPILLMC OPTIONS...]
      runs `SPILLMC run CONFIG -o TMP.h5 OPTIONS...` first, then checks TMP.h5
      (conditions are required when the options set them)
"""

import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"check_quantiles: skipped, {e}", file=sys.stderr)
    sys.exit(77)

from spillmc_run import run_then_check  # noqa: E402

RTOL = 1e-9

# model.md / include/spillmc/fields.hpp, written out here from the definitions.
EVENTS = {
    "leader_gains": lambda d: d("pi12") >= d("pi11"),
    "spillover_condition": lambda d: 3.0 * d("A1") > 2.0 * d("A2"),
    "follower_active": lambda d: d("q22") > 0,
    "follower_active_up": lambda d: d("q22_up") > 0,
    "upgrade_gain_positive": lambda d: d("upgrade_gain") > 0,
}


class CannotCheck(Exception):
    pass


def check_histograms(f, draws, valid, problems):
    summary = f["summary"]
    checked = 0
    for name in summary:
        g = summary[name]
        if "quantile_bounds" not in g:
            continue
        if name not in draws:
            raise CannotCheck(f"field '{name}' is histogrammed but not in /draws "
                              f"(add it to output.fields)")
        x = draws[name][:][valid]
        if name == "A2_crit":
            x = x[~np.isnan(x)]
        if np.isnan(x).any():
            problems.append(f"{name}: NaN among the valid stored draws")
            continue
        n = int(g["count"][()])
        counts = g["histogram/counts"][:]
        edges = g["histogram/edges"][:]
        under = int(g["histogram"].attrs["underflow"])
        over = int(g["histogram"].attrs["overflow"])
        total = int(counts.sum()) + under + over
        if total != n or n != x.size:
            problems.append(f"{name}: histogram total {total}, summary count {n}, "
                            f"stored valid draws {x.size}")
        lo_e, hi_e = edges[0], edges[-1]
        if under != int((x < lo_e).sum()) or over != int((x > hi_e).sum()):
            problems.append(f"{name}: underflow/overflow {under}/{over}, stored draws give "
                            f"{int((x < lo_e).sum())}/{int((x > hi_e).sum())}")
        inside = x[(x >= lo_e) & (x <= hi_e)]
        # Bin by the reported edges: k such that edges[k] <= x < edges[k+1], hi in the last bin.
        k = np.searchsorted(edges, inside, side="right") - 1
        k = np.minimum(k, counts.size - 1)
        mine = np.bincount(k, minlength=counts.size)
        if not np.array_equal(mine, counts):
            bad = int(np.flatnonzero(mine != counts)[0])
            problems.append(f"{name}: bin {bad} holds {int(counts[bad])}, the stored draws "
                            f"give {int(mine[bad])} ({int((mine != counts).sum())} bins differ)")
        width = (hi_e - lo_e) / counts.size
        levels = g["quantiles"].attrs["levels"]
        q = g["quantiles"][:]
        bounds = g["quantile_bounds"][:]
        if x.size == 0:
            continue
        for i, level in enumerate(levels):
            exact = np.quantile(x, level, method="inverted_cdf")
            blo, bhi = bounds[i]
            if not (blo <= exact <= bhi):
                problems.append(f"{name}: exact quantile {level} = {exact!r} outside "
                                f"[{blo!r}, {bhi!r}]")
            if not (blo <= q[i] <= bhi):
                problems.append(f"{name}: quantile {level} = {q[i]!r} outside its bounds "
                                f"[{blo!r}, {bhi!r}]")
            if lo_e <= blo and bhi <= hi_e and bhi - blo > width * (1 + 1e-9):
                problems.append(f"{name}: bound of quantile {level} [{blo!r}, {bhi!r}] is wider "
                                f"than one bin ({width!r})")
        checked += 1
    return checked


def same(a, b):
    return a == b or (np.isnan(a) and np.isnan(b))


def close(a, b):
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= RTOL * max(abs(a), abs(b), 1e-300)


def check_conditions(f, draws, valid, problems):
    if "conditional" not in f:
        return 0
    cache = {}

    def field(name):
        if name not in draws:
            raise CannotCheck(f"field '{name}' is needed for a condition but not in /draws")
        if name not in cache:
            cache[name] = draws[name][:][valid]
        return cache[name]

    checked = 0
    for cname in f["conditional"]:
        g = f["conditional"][cname]
        negated = cname.startswith("not_")
        event = cname[4:] if negated else cname
        if event not in EVENTS:
            raise CannotCheck(f"unknown condition '{cname}'")
        mask = EVENTS[event](field)
        if negated:
            mask = ~mask
        n = int(mask.sum())
        if int(g["count"][()]) != n:
            problems.append(f"conditional/{cname}/count = {int(g['count'][()])}, "
                            f"stored draws give {n}")
        for fname in g["summary"]:
            if fname not in draws:
                continue
            s = g["summary"][fname]
            x = field(fname)[mask]
            if fname == "A2_crit":
                x = x[~np.isnan(x)]
            where = f"conditional/{cname}/summary/{fname}"
            if int(s["count"][()]) != x.size:
                problems.append(f"{where}/count = {int(s['count'][()])}, expected {x.size}")
                continue
            if x.size == 0:
                continue
            want = {"mean": x.mean(), "std": x.std(ddof=1) if x.size > 1 else np.nan}
            for stat, v in want.items():
                got = float(s[stat][()])
                if not close(got, float(v)):
                    problems.append(f"{where}/{stat} = {got!r}, numpy {float(v)!r}")
            for stat, v in (("min", x.min()), ("max", x.max())):
                got = float(s[stat][()])
                if not same(got, float(v)):
                    problems.append(f"{where}/{stat} = {got!r}, numpy {float(v)!r}")
        checked += 1
    return checked


def check(path, need_conditions):
    problems = []
    try:
        with h5py.File(path, "r") as f:
            if "draws" not in f:
                raise CannotCheck("no /draws (run with output.draws: all)")
            draws = f["draws"]
            sel = draws.attrs["selection"]
            sel = sel.decode() if isinstance(sel, bytes) else str(sel)
            if sel != "all":
                raise CannotCheck(f"/draws holds selection '{sel}', not all")
            valid = draws["status"][:] == -1
            if int(valid.sum()) != int(f.attrs["draws_valid"]):
                problems.append(f"{int(valid.sum())} valid stored draws, draws_valid = "
                                f"{int(f.attrs['draws_valid'])}")
            nh = check_histograms(f, draws, valid, problems)
            if nh == 0:
                raise CannotCheck("no histogrammed field in the file")
            nc = check_conditions(f, draws, valid, problems)
            if need_conditions and nc == 0:
                problems.append("no /conditional group although conditions were set")
    except CannotCheck as e:
        print(f"check_quantiles: cannot check {path}: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(f"check_quantiles: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_quantiles: OK: {nh} histogrammed fields, {nc} conditions, "
          f"{int(valid.sum())} valid draws")
    return 0


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--run"]:  # everything after CONFIG goes to spillmc
        need_conditions = any(a.startswith("conditions=") for a in argv[3:])
        return run_then_check("check_quantiles", argv, lambda out: check(out, need_conditions))
    if not argv or argv[0].startswith("-") and argv[0] != "--conditions":
        print(__doc__, file=sys.stderr)
        return 2
    files = [a for a in argv if a != "--conditions"]
    rc = 0
    for path in files:
        rc = max(rc, check(path, "--conditions" in argv))
    return rc


if __name__ == "__main__":
    sys.exit(main())
