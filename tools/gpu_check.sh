#!/usr/bin/env bash
# The capstone's GPU path, checked on a machine with one CUDA GPU (no Jupyter needed there).
#
#   bash tools/gpu_check.sh [OUT_DIR]        # default: build/gpu-check
#
# 1. the unit tests of the pieces the capstone is built from (TinyGPT, pre-training, capstone);
# 2. `pretrain` with the cuda preset (bf16 autocast, fused AdamW, TF32, SDPA, torch.compile):
#    tokens/s and MFU land in OUT_DIR/cuda/results.json;
# 3. the same for 300 steps without torch.compile, for the speed-up compile buys;
# 4. `finetune` from the GPU-pretrained model: the claim (accuracy against labels, scratch vs
#    pre-trained) measured on the GPU;
# 5. `torchrun` with one process: the DistributedDataParallel path (NCCL) with compile and
#    gradient accumulation (micro-batch 64 of a 256 batch), then `--resume` from its checkpoint.
# Each step's output goes to OUT_DIR/<step>.log; the script goes on after a failed step and
# exits 1 at the end if any failed.
set -u
OUT_DIR=${1:-build/gpu-check}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
failed=()

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    echo "   rc=$rc in $((SECONDS - start)) s; last lines:"
    tail -n 6 "$OUT_DIR/$name.log" | sed 's/^/   | /'
    [ $rc -eq 0 ] || failed+=("$name")
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"

step unit-tests 240 $PY -m pytest -q -o addopts= -p no:cacheprovider -p no:randomly tests/test_gpt.py tests/test_pretraining.py tests/test_capstone.py
step pretrain-cuda 300 $PY -m course_utils.capstone pretrain --out "$OUT_DIR/cuda" --preset cuda --quiet
step pretrain-no-compile 180 $PY -m course_utils.capstone pretrain --out "$OUT_DIR/no-compile" --preset cuda --quiet --no-compile --max-steps 300
step finetune-cuda 300 $PY -m course_utils.capstone finetune --out "$OUT_DIR/cuda" --preset cuda --quiet --labels 8,32,128 --seeds 2
step ddp-one-process 240 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m course_utils.capstone pretrain \
    --out "$OUT_DIR/ddp" --preset cuda --quiet --max-steps 600 --micro-batch-size 64
step ddp-resume 180 $PY -m torch.distributed.run --standalone --nproc_per_node=1 -m course_utils.capstone pretrain \
    --out "$OUT_DIR/ddp" --preset cuda --quiet --max-steps 800 --micro-batch-size 64 --resume

for run in cuda no-compile ddp; do
    [ -f "$OUT_DIR/$run/results.json" ] && echo "== $run/results.json" && cat "$OUT_DIR/$run/results.json"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all GPU checks passed"
