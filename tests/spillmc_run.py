"""Shared by the check_*.py scripts: their `--run SPILLMC CONFIG [SPILLMC OPTIONS...]` mode."""

import os
import shutil
import subprocess
import sys
import tempfile


def run_then_check(prog, argv, check):
    """argv = ["--run", SPILLMC, CONFIG, options...]: runs spillmc into a temporary file and
    returns check(path), or 1 when the run fails and 2 on a usage error."""
    if len(argv) < 3:
        print(f"{prog}: --run SPILLMC CONFIG [SPILLMC OPTIONS...]", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix=f"spillmc-{prog}-")
    try:
        out = os.path.join(tmp, "run.h5")
        cmd = [argv[1], "run", argv[2], "-o", out] + argv[3:]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{prog}: {' '.join(cmd)} failed (exit {p.returncode}):\n{p.stdout}{p.stderr}",
                  file=sys.stderr)
            return 1
        return check(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
