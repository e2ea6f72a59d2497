#!/usr/bin/env bash
# A second, independent implementation: bench/numpy_baseline.py (NumPy's own
# generator, np.select over the regimes) must agree with spillmc's estimates
# within 5 combined standard errors. Exit 77 (skipped) without numpy/h5py.
set -euo pipefail
spillmc=$1 config=$2 source_dir=$3
/usr/bin/python3 -c "import numpy, h5py, yaml" 2>/dev/null || { echo "no numpy/h5py/yaml in /usr/bin/python3"; exit 77; }
# A sweep is checked cell by cell elsewhere (test_sweep); this compares plain runs.
if grep -q '^sweep:' "$config"; then echo "sweep config: not a plain run"; exit 77; fi
# The numpy baseline samples independent inputs; the copula has its own tests (test_copula).
if grep -q '^correlation:' "$config"; then echo "correlated inputs: not in the numpy baseline"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$spillmc" run "$config" --draws 400000 --backend cpu -q -o "$tmp/r.h5"
/usr/bin/python3 "$source_dir/bench/numpy_baseline.py" --check "$tmp/r.h5" --quiet
