#!/usr/bin/python3
"""Compare two SpillMC benchmark results (bench/results/*.json): before and after.

  bench/compare.py BEFORE.json AFTER.json

For every measurement both files hold it prints the two medians, the ratio
after/before and whether the repetitions' ranges overlap (if they do, the
change is within this machine's run-to-run noise). Then the memory figures, the
GPU profile figures and the targets. Works for run_cpu.sh and run_gpu.sh files
alike; exits 2 when the files are of different kinds or unreadable.

Results from different machines (or from one shared machine under different
load) are not comparable: the ratios measured side by side inside one file
(its "ratios") are the trustworthy ones. The machine lines are printed so
that a mismatch shows.
"""

import json
import sys


def load(path):
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"compare: {path}: {e}")
    if "measurements" not in r:
        sys.exit(f"compare: {path}: not a SpillMC benchmark result (no 'measurements')")
    return r


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, float)):
        return f"{x:.4g}"
    return str(x)


def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if a.get("kind") != b.get("kind"):
        print(f"compare: different kinds: {a.get('kind')} vs {b.get('kind')}", file=sys.stderr)
        return 2

    print(f"before: {sys.argv[1]}  ({a.get('date')}, commit {str(a.get('commit'))[:12]}"
          f"{' dirty' if a.get('dirty') else ''})")
    print(f"after:  {sys.argv[2]}  ({b.get('date')}, commit {str(b.get('commit'))[:12]}"
          f"{' dirty' if b.get('dirty') else ''})")
    ma, mb = a.get("machine", {}), b.get("machine", {})
    for key in ("cpu_model", "nproc", "gpu"):
        if key in ma or key in mb:
            same = "" if ma.get(key) == mb.get(key) else "   <- DIFFERENT MACHINE"
            print(f"  {key}: {ma.get(key)} | {mb.get(key)}{same}")
    if "loadavg_start" in ma or "loadavg_start" in mb:
        print(f"  load average at start: {fmt((ma.get('loadavg_start') or [None])[0])} | "
              f"{fmt((mb.get('loadavg_start') or [None])[0])}")

    print()
    print(f"{'measurement (draws/s, median)':32s} {'before':>11s} {'after':>11s} "
          f"{'after/before':>12s}  noise")
    for name in a["measurements"]:
        if name not in b["measurements"]:
            continue
        x, y = a["measurements"][name], b["measurements"][name]
        ra, rb = x.get("draws_per_second", []), y.get("draws_per_second", [])
        overlap = ra and rb and min(ra) <= max(rb) and min(rb) <= max(ra)
        print(f"{name:32s} {fmt(x['median']):>11s} {fmt(y['median']):>11s} "
              f"{y['median'] / x['median']:12.3f}  "
              f"{'within noise (ranges overlap)' if overlap else 'beyond noise'}")
    for only, r in (("before", a), ("after", b)):
        other = b if r is a else a
        missing = [n for n in r["measurements"] if n not in other["measurements"]]
        if missing:
            print(f"  only {only}: {', '.join(missing)}")

    ra, rb = a.get("ratios", {}), b.get("ratios", {})
    shown = [k for k in ra if k in rb and isinstance(ra[k], (int, float))]
    if shown:
        print()
        print(f"{'side-by-side ratio':32s} {'before':>11s} {'after':>11s}")
        for k in shown:
            print(f"{k:32s} {fmt(ra[k]):>11s} {fmt(rb[k]):>11s}")

    mema, memb = a.get("memory", {}), b.get("memory", {})
    keys = [k for k in mema if k in memb]
    if keys:
        print()
        print(f"{'memory':32s} {'before':>11s} {'after':>11s}")
        for k in keys:
            print(f"{k:32s} {fmt(mema[k]):>11s} {fmt(memb[k]):>11s}")

    na, nb = a.get("ncu", {}).get("metrics", {}), b.get("ncu", {}).get("metrics", {})
    keys = [k for k in na if k in nb]
    if keys:
        print()
        print(f"{'ncu metric':58s} {'before':>11s} {'after':>11s}")
        for k in keys:
            print(f"{k:58s} {fmt(na[k]['value']):>11s} {fmt(nb[k]['value']):>11s}")

    ta, tb = a.get("targets", {}), b.get("targets", {})
    keys = [k for k in tb if k in ta] + [k for k in tb if k not in ta]
    if keys:
        print()
        print(f"{'target':32s} {'before':>11s} {'after':>11s}")
        for k in keys:
            met_a = ta.get(k, {}).get("met")
            met_b = tb[k].get("met")
            word = {True: "met", False: "not met", None: "-"}
            print(f"{k:32s} {word[met_a]:>11s} {word[met_b]:>11s}   ({tb[k].get('target')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
