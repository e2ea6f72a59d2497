#!/bin/bash
# Runs the Slurm templates of scripts/slurm/ without Slurm: fake sbatch, srun and
# scontrol on PATH. submit_array_and_merge.sh runs its array tasks one after the
# other (SLURM_ARRAY_TASK_ID/COUNT set), then the dependent merge; the merged
# file must verify and equal a single run. mpi.sbatch runs through a one-rank
# srun; requeue.sbatch's signal forwarding and requeue run against a stub spillmc.
#
#   tests/slurm_templates.sh SPILLMC SOURCE_DIR      (exit 77: skipped)
set -euo pipefail
spillmc=$(realpath "$1")
src=$(realpath "$2")
[[ -x $spillmc ]] || { echo "SKIP: no spillmc binary at $1"; exit 77; }
python=/usr/bin/python3 # Debian's, with h5py (scripts/setup.sh)
[[ -x $python ]] || python=$(command -v python3) || { echo "SKIP: needs python3"; exit 77; }
"$python" -c 'import h5py' 2>/dev/null || { echo "SKIP: needs python3 with h5py"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spillmc-slurm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/bin
state=$tmp/state
mkdir -p "$bin" "$state" "$tmp/work/results"
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- fake Slurm ----------------------------------------------------------------
# sbatch [--parsable] [--array=A-B] [--dependency=afterok:ID] [other --opt=val] SCRIPT ARGS...
# runs synchronously, from a copy of SCRIPT (as Slurm does), and records each
# job's status in $FAKE_SLURM_STATE/JOBID.
cat >"$bin/sbatch" <<'STUB'
#!/bin/bash
set -u
state=$FAKE_SLURM_STATE
array= dep=
while (($#)); do
  case $1 in
    --parsable) shift ;;
    --array=*) array=${1#--array=}; shift ;;
    --dependency=*) dep=${1#--dependency=}; shift ;;
    --*=*) shift ;;
    -*) echo "fake sbatch: unsupported option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
script=$1
shift
id=$(($(ls "$state" | wc -l) + 1000))
if [[ -n $dep ]]; then
  [[ $dep == afterok:* ]] || { echo "fake sbatch: only afterok" >&2; exit 1; }
  st=$(cat "$state/${dep#afterok:}" 2>/dev/null) || { echo "fake sbatch: no job ${dep#afterok:}" >&2; exit 1; }
  if [[ $st != 0 ]]; then echo never >"$state/$id"; echo "$id"; exit 0; fi
fi
spool=$(mktemp -d)
cp "$script" "$spool/slurm_script"
export SLURM_JOB_ID=$id SLURM_SUBMIT_DIR=$PWD SLURM_CPUS_PER_TASK=1
rc=0
if [[ -n $array ]]; then
  lo=${array%-*} hi=${array#*-}
  for ((t = lo; t <= hi; t++)); do
    SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$t SLURM_ARRAY_TASK_MIN=$lo \
      SLURM_ARRAY_TASK_MAX=$hi SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) \
      bash "$spool/slurm_script" "$@" >>"$state/../job-$id.log" 2>&1 || rc=$?
  done
else
  bash "$spool/slurm_script" "$@" >>"$state/../job-$id.log" 2>&1 || rc=$?
fi
rm -rf "$spool"
echo "$rc" >"$state/$id"
echo "$id"
STUB
cat >"$bin/srun" <<'STUB'
#!/bin/bash
# one rank, no MPI launcher: spillmc runs as rank 0 of 1
SLURM_NTASKS=1 exec "$@"
STUB
cat >"$bin/scontrol" <<'STUB'
#!/bin/bash
echo "$*" >>"$FAKE_SLURM_STATE/../scontrol.log"
STUB
chmod +x "$bin"/*
export PATH=$bin:$PATH FAKE_SLURM_STATE=$state SPILLMC=$spillmc
unset SLURM_ARRAY_TASK_ID SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN SLURM_ARRAY_TASK_STEP \
  SLURM_JOB_ID SLURM_RESTART_COUNT SLURM_NTASKS OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_RANK
cd "$tmp/work"
cfg=$src/configs/baseline.yaml
opts=(--draws 200000 --seed 7 --backend cpu --quiet)

# --- bash -n on every template -----------------------------------------------------
for f in "$src"/scripts/slurm/*; do bash -n "$f" || fail "bash -n $f"; done

# --- array + merge -----------------------------------------------------------------
out=$("$src/scripts/slurm/submit_array_and_merge.sh" 3 "$cfg" results/arr.h5 "${opts[@]}") ||
  fail "submit_array_and_merge.sh"
echo "$out"
for j in "$state"/*; do
  [[ $(cat "$j") == 0 ]] || { cat "$tmp"/job-*.log; fail "job $(basename "$j") status $(cat "$j")"; }
done
for i in 0 1 2; do
  [[ -f results/arr.shard-000$i-of-0003.h5 ]] || fail "no shard $i"
done
"$spillmc" verify results/arr.h5 || fail "verify results/arr.h5"
"$spillmc" run "$cfg" "${opts[@]}" -o results/one.h5 || fail "single run"
"$python" - results/arr.h5 results/one.h5 <<'PY' || fail "merged result differs from a single run"
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
for k in ("counts", "moments"):
    x, y = a["state"][k][()], b["state"][k][()]
    assert x.shape == y.shape and x.tobytes() == y.tobytes(), k
assert a.attrs["draws_valid"] == b.attrs["draws_valid"]
PY

# A failing shard: the merge never runs and nothing is written.
rm -rf "${state:?}"/* results/*
out=$("$src/scripts/slurm/submit_array_and_merge.sh" 2 "$cfg" results/bad.h5 "${opts[@]}" \
  --set parameters.b.sd=-1) || fail "submit (bad config)"
[[ ! -e results/bad.h5 ]] || fail "a merge ran after a failed shard"
grep -qx never "$state"/* || fail "the merge was not held back"

# --- MPI template (CPU variant, one rank through the fake srun) ---------------------
rm -rf "${state:?}"/* results/*
BACKEND=cpu sbatch --parsable "$src/scripts/slurm/mpi.sbatch" "$cfg" --draws 200000 --seed 7 \
  -o results/mpi.h5 >/dev/null
[[ $(cat "$state"/*) == 0 ]] || { cat "$tmp"/job-*.log; fail "mpi.sbatch"; }
"$spillmc" verify results/mpi.h5 || fail "verify results/mpi.h5"

# --- requeue template against a stub spillmc ----------------------------------------
# The stub exits 75 (checkpointed) on SIGUSR1 on the first start, and 0 at once
# when restarted (SLURM_RESTART_COUNT > 0).
cat >"$bin/stub-spillmc" <<'STUB'
#!/bin/bash
echo "stub: $*" >>"$FAKE_SLURM_STATE/../stub.log"
((${SLURM_RESTART_COUNT:-0} > 0)) && exit 0
trap 'exit 75' USR1
for ((i = 0; i < 600; i++)); do sleep 0.1; done
exit 1
STUB
chmod +x "$bin/stub-spillmc"
rm -rf "${state:?}"/*
SPILLMC=$bin/stub-spillmc SLURM_JOB_ID=4242 bash "$src/scripts/slurm/requeue.sbatch" "$cfg" &
job=$!
sleep 1
kill -USR1 "$job"
rc=0
wait "$job" || rc=$?
[[ $rc == 0 ]] || fail "requeue.sbatch exited $rc after a checkpoint"
grep -qx "requeue 4242" "$tmp/scontrol.log" || fail "no scontrol requeue"
grep -q -- "--set checkpoint.every=600" "$tmp/stub.log" || fail "no checkpoint.every"
SPILLMC=$bin/stub-spillmc SLURM_JOB_ID=4242 SLURM_RESTART_COUNT=1 \
  bash "$src/scripts/slurm/requeue.sbatch" "$cfg" || fail "requeue.sbatch restart"
[[ $(grep -c -- " --resume" "$tmp/stub.log") == 2 ]] || fail "no --resume"
[[ $(wc -l <"$tmp/scontrol.log") == 1 ]] || fail "requeued after a finished run"

# --- requeue template with the real spillmc (when it has --resume) ------------------
# One thread, SIGUSR1 after 1 s: checkpoint, exit 75, requeue; the restart resumes
# and must give the bits of an uninterrupted run.
if "$spillmc" run --help | grep -q -- --resume; then
  rm -f "$tmp/scontrol.log" results/*
  real=(--draws 80000000 --seed 11 --backend cpu --quiet)
  SLURM_JOB_ID=77 SLURM_CPUS_PER_TASK=1 CHECKPOINT_EVERY=1 \
    bash "$src/scripts/slurm/requeue.sbatch" "$cfg" "${real[@]}" -o results/rq.h5 &
  job=$!
  sleep 1
  kill -USR1 "$job"
  rc=0
  wait "$job" || rc=$?
  [[ $rc == 0 ]] || fail "requeue.sbatch (real spillmc) exited $rc"
  if [[ -f $tmp/scontrol.log ]]; then
    [[ ! -e results/rq.h5 && -f results/rq.h5.ckpt ]] || fail "no checkpoint, or an early result"
    SLURM_JOB_ID=77 SLURM_RESTART_COUNT=1 SLURM_CPUS_PER_TASK=2 \
      bash "$src/scripts/slurm/requeue.sbatch" "$cfg" "${real[@]}" -o results/rq.h5 ||
      fail "requeue.sbatch restart (real spillmc)"
  else
    echo "note: the run ended before the signal; nothing to resume"
  fi
  "$spillmc" verify results/rq.h5 || fail "verify results/rq.h5"
  "$spillmc" run "$cfg" "${real[@]}" -o results/rq1.h5 || fail "uninterrupted run"
  "$python" - results/rq.h5 results/rq1.h5 <<'PY' || fail "resumed result differs"
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
for k in ("counts", "moments"):
    assert a["state"][k][()].tobytes() == b["state"][k][()].tobytes(), k
PY
else
  echo "note: this spillmc has no --resume; requeue.sbatch tested with a stub only"
fi

echo "slurm templates: OK"
