#!/usr/bin/env bash
# A second, independent implementation: bench/numpy_baseline.py (NumPy's own
# generator, np.select over the regimes) must agree with spillmc's estimates
# within 5 combined standard errors. Exit 77 (skipped) without numpy/h5py.
set -euo pipefail
spillmc=$1 config=$2 source_dir=$3
/usr/bin/python3 -c "import numpy, h5py, yaml" 2>/dev/null || { echo "no numpy/h5py/yaml in /usr/bin/python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$spillmc" run "$config" --draws 400000 --backend cpu -q -o "$tmp/r.h5"
/usr/bin/python3 "$source_dir/bench/numpy_baseline.py" --check "$tmp/r.h5" --quiet
