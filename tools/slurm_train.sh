#!/usr/bin/env bash
# Slurm: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [args]
# Without WORK_DIR (or when the 4th argument is an option such as
# --cfg-options) the run writes to work_dirs/<config name>, as
# tools/train.py does.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
if [ $# -ge 4 ] && [ "${4#-}" = "$4" ]; then
    WORK_DIR=$4
    PY_ARGS=("${@:5}")
else
    WORK_DIR="work_dirs/$(basename "$CONFIG" .py)"
    PY_ARGS=("${@:4}")
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
read -r -a SRUN_ARGS <<< "${SRUN_ARGS:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    "${SRUN_ARGS[@]}" \
    python -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "${PY_ARGS[@]}"
