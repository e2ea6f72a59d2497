#!/usr/bin/env bash
# scripts/plot.py end to end: runs spillmc on every bundled config (configs/*.yaml) with
# few draws and plots each result; then plots synthetic 1-, 2- and 3-axis sweeps written by
# tests/check_sweep_layout.py --write-synthetic, so the sweep figures are exercised whatever
# the binary supports. Every figure `plot.py --list` announces must exist afterwards, and a
# result always gets regimes.png and events.png, a sweep its three sweep_*.png maps. Sweep
# files also go through tests/check_sweep_layout.py, which must reject a file whose regime
# grid lacks its trailing dimension scale.
#
#   tests/plots.sh SPILLMC SOURCE_DIR      (exit 77: skipped without h5py/matplotlib/yaml)
set -euo pipefail
spillmc=$(realpath "$1")
src=$(realpath "$2")
python=/usr/bin/python3 # Debian's, with h5py, numpy, matplotlib, yaml (scripts/setup.sh)
[[ -x $spillmc ]] || { echo "SKIP: no spillmc binary at $1"; exit 77; }
"$python" -c 'import h5py, numpy, matplotlib, yaml' 2>/dev/null ||
  { echo "SKIP: $python lacks h5py, numpy, matplotlib or yaml"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spillmc-plots.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# plot FILE NAME [REQUIRED.png...]: plot.py FILE into $tmp/NAME; every listed and
# every required figure must be a non-empty PNG.
plot() {
  local file=$1 name=$2
  shift 2
  local out=$tmp/$name
  if ! "$python" "$src/scripts/plot.py" "$file" -o "$out" >"$tmp/$name.written" \
    2>"$tmp/$name.err"; then
    fail "$name: plot.py exited with an error:"
    cat "$tmp/$name.err" >&2
    return 0
  fi
  local expected
  expected=$("$python" "$src/scripts/plot.py" "$file" --list 2>/dev/null | awk '{print $1}')
  for png in $expected "$@"; do
    if [[ ! -s $out/$png ]]; then
      fail "$name: $png missing"
    elif [[ $(head -c 8 "$out/$png" | od -An -tx1 | tr -d ' \n') != 89504e470d0a1a0a ]]; then
      fail "$name: $png is not a PNG"
    fi
  done
  echo "$name: $(wc -l <"$tmp/$name.written") figures"
}

sweep_figures=(sweep_leader_gains.png sweep_upgrade_gain_positive.png sweep_upgrade_gain_mean.png)

for cfg in "$src"/configs/*.yaml; do
  name=$(basename "$cfg" .yaml)
  sets=(--set draws=20000)
  is_sweep=0
  if grep -q '^sweep:' "$cfg"; then
    sets=(--set sweep.draws_per_cell=2000)
    is_sweep=1
  fi
  if ! "$spillmc" run "$cfg" "${sets[@]}" --backend cpu -q --force -o "$tmp/$name.h5" \
    2>"$tmp/$name.run.err"; then
    fail "$name: spillmc run failed:"
    cat "$tmp/$name.run.err" >&2
    continue
  fi
  if ((is_sweep)); then
    plot "$tmp/$name.h5" "$name" "${sweep_figures[@]}"
    "$python" "$src/tests/check_sweep_layout.py" "$tmp/$name.h5" || fail "$name: sweep layout"
  else
    plot "$tmp/$name.h5" "$name" regimes.png events.png
  fi
done

# Synthetic sweeps: the sweep, histogram and path figures, whatever the binary writes.
for n in 1 2 3; do
  "$python" "$src/tests/check_sweep_layout.py" --write-synthetic "$tmp/synthetic$n.h5" \
    --ndim "$n" >/dev/null
  "$python" "$src/tests/check_sweep_layout.py" "$tmp/synthetic$n.h5" || fail "synthetic$n: layout"
  plot "$tmp/synthetic$n.h5" "synthetic$n" "${sweep_figures[@]}" regimes.png events.png paths.png \
    hist_pi22.png hist_A2_crit.png sweep_best_path.png
done

# The checker must catch a regime grid without a scale on its last dimension.
"$python" - "$tmp/synthetic2.h5" <<'EOF'
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    f["sweep/regimes/stage2"].dims[2].detach_scale(f["sweep/regimes/regime"])
EOF
if "$python" "$src/tests/check_sweep_layout.py" "$tmp/synthetic2.h5" >/dev/null; then
  fail "check_sweep_layout.py accepted a regime grid without its trailing dimension scale"
fi

# A file that is not a SpillMC result: exit 2 and a message.
printf 'not hdf5' >"$tmp/bogus.h5"
set +e
"$python" "$src/scripts/plot.py" "$tmp/bogus.h5" -o "$tmp/bogus" 2>"$tmp/bogus.err"
rc=$?
set -e
[[ $rc == 2 ]] || fail "plot.py on a non-HDF5 file exited $rc, expected 2"
grep -q 'is not an HDF5 file' "$tmp/bogus.err" || fail "plot.py: no message for a non-HDF5 file"

if ((failures)); then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "plots: OK"
