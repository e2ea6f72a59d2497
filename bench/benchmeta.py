"""Provenance recorded in every bench/results JSON: when, which commit, which CPU.

Imported by the Python parts of run_cpu.sh, run_features.sh and scale.sh, which run from the
repository root."""

import datetime
import os
import subprocess


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def git(*a):
    try:
        p = subprocess.run(["git"] + list(a), capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown"
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def provenance():
    """date, commit and dirty, the first keys of every result file.

    BENCH_COMMIT names the commit where the tree is a copy whose .git may be stale (the device
    tool's machine); dirty is then unknown (None)."""
    commit = os.environ.get("BENCH_COMMIT")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit or git("rev-parse", "HEAD"),
        "dirty": None if commit else
        git("status", "--porcelain", "--untracked-files=no") not in ("", "unknown"),
    }
