#!/usr/bin/env bash
# tests/check_layout.py on what the program writes: every bundled config's
# result, histograms of chosen fields in a chosen order, the shards of a run
# (one of them with no draws) and their merge. Then two files patched with h5py
# must fail it: /state/hist changed, and a histogram bin changed.
# Exit 77 (skipped) without h5py/numpy in /usr/bin/python3.
set -euo pipefail
spillmc=$1 source_dir=$2
/usr/bin/python3 -c "import numpy, h5py" 2>/dev/null || { echo "no numpy/h5py in /usr/bin/python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { /usr/bin/python3 "$source_dir/tests/check_layout.py" "$1"; }
run() { "$spillmc" run "$@" --backend cpu -q; }

for config in "$source_dir"/configs/*.yaml; do
  name=$(basename "$config" .yaml)
  run "$config" --draws 100000 -o "$tmp/$name.h5"
  check "$tmp/$name.h5"
done
base="$source_dir/configs/baseline.yaml"
run "$base" --draws 100000 --set 'histograms={bins: 50, fields: [pi22, A2_crit, q11]}' \
  -o "$tmp/order.h5"
check "$tmp/order.h5"
for i in 0 1 2; do
  run "$base" --draws 100000 --shard "$i/3" -o "$tmp/s$i.h5"  # one segment: two shards are empty
  check "$tmp/s$i.h5"
done
"$spillmc" merge "$tmp/s0.h5" "$tmp/s1.h5" "$tmp/s2.h5" -o "$tmp/merged.h5"
check "$tmp/merged.h5"

expect_failure() {  # FILE DATASET INDEX MESSAGE
  cp "$tmp/order.h5" "$1"
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import sys
import h5py
with h5py.File(sys.argv[1], "r+") as f:
    d = f[sys.argv[2]]
    v = d[()]
    v[int(sys.argv[3])] += 1
    d[...] = v
EOF
  if out=$(check "$1" 2>&1); then
    echo "check_layout accepted $1 ($2 patched)"
    exit 1
  fi
  grep -qF "$4" <<<"$out" || { echo "expected '$4' in: $out"; exit 1; }
}
expect_failure "$tmp/hist.h5" state/hist 0 "/state/hist differs from the histograms under /summary"
expect_failure "$tmp/bins.h5" summary/q11/histogram/counts 3 \
  "/summary/q11/histogram: underflow + counts + overflow"
echo "layout_of_outputs: OK"
