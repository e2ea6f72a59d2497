#!/bin/bash
# Submits a job array of N shards (array.sbatch) and a merge (merge.sbatch) that
# runs only if every shard succeeded (--dependency=afterok). Prints both job ids.
#
#   scripts/slurm/submit_array_and_merge.sh N CONFIG OUT.h5 [spillmc run options...]
#   e.g. scripts/slurm/submit_array_and_merge.sh 8 configs/baseline.yaml results/big.h5 \
#          --draws 1e11 --seed 42
#
# Run it from the directory the paths are relative to (the jobs start there).
# sbatch options for the array (partition, account, time) go in SBATCH_ARRAY_OPTS
# and for the merge in SBATCH_MERGE_OPTS, e.g. SBATCH_ARRAY_OPTS="-p gpu --gpus-per-task=1".
# Shards are whole segments of 2^26 draws: N above draws / 67108864 leaves
# some shards empty, which is allowed but wasteful.
set -euo pipefail
if (($# < 3)) || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N CONFIG OUT.h5 [spillmc run options...]" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
n=$1
config=$2
out=$3
shift 3

# shellcheck disable=SC2086  # the *_OPTS are word lists on purpose
array_id=$(sbatch --parsable --array="0-$((n - 1))" ${SBATCH_ARRAY_OPTS:-} \
  "$here/array.sbatch" "$config" "$out" "$@")
array_id=${array_id%%;*} # --parsable prints JOBID[;CLUSTER]
# shellcheck disable=SC2086
merge_id=$(sbatch --parsable --dependency="afterok:$array_id" ${SBATCH_MERGE_OPTS:-} \
  "$here/merge.sbatch" "$out" "$n")
merge_id=${merge_id%%;*}
echo "array job $array_id ($n shards), merge job $merge_id -> $out"
