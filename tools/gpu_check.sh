#!/usr/bin/env bash
# The capstone's GPU path, checked on a machine with one CUDA GPU (no Jupyter needed there).
#
#   bash tools/gpu_check.sh [OUT_DIR]        # default: build/gpu-check; at most 8.5 minutes (step time limits)
#
# The most telling figures come first, so a run cut short still reports them:
# 1. nanoGPT's shakespeare-char shape (6 layers, 6 heads, 384 channels, context 256, batch 64),
#    torch.compile and bf16: tokens/s and MFU, to compare with nanoGPT's own train.py at that shape
#    (about 1.0M tokens/s, 6.6% MFU on an H200 with torch 2.11);
# 2. `pretrain` with the cuda preset (bf16 autocast, fused AdamW, TF32, SDPA, torch.compile);
# 3. `finetune` from the GPU-pretrained model: accuracy against labels, scratch vs pre-trained;
# 4. `torchrun` with one process: DDP (NCCL) with compile and gradient accumulation (micro-batch
#    64 of a 256 batch), then `--resume` from its checkpoint;
# 5. the preset without torch.compile, for the speed-up compile buys.
# (The unit tests run on the CPU: `make test`.)
# Tokens/s is per process, MFU per device (one GPU's dense bf16 peak, course_utils.lm_training.PEAK_FLOPS).
# Each step's output goes to OUT_DIR/<step>.log; the script goes on after a failed step and
# exits 1 at the end if any failed.
set -u
OUT_DIR=${1:-build/gpu-check}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
CAPSTONE=(-m course_utils.capstone)
failed=()

step() {  # step NAME TIMEOUT_S COMMAND...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    echo "   rc=$rc in $((SECONDS - start)) s; last lines:"
    tail -n 4 "$OUT_DIR/$name.log" | sed 's/^/   | /'
    [ $rc -eq 0 ] || failed+=("$name")
}

speed() {  # speed RUN: tokens/s per process and MFU per device from RUN/results.json
    $PY - "$OUT_DIR/$1/results.json" <<'EOF' || true
import json, sys
p = json.load(open(sys.argv[1]))["pretrain"]
mfu = "unknown" if p.get("mfu") is None else f"{p['mfu']:.1%}"
print(f"   => {p['tokens_per_s']:,.0f} tokens/s per process, MFU {mfu}, held-out loss {p['val_loss']:.3f}")
EOF
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"

step nanogpt-shape 120 $PY "${CAPSTONE[@]}" pretrain --out "$OUT_DIR/nanogpt" --preset cuda --quiet \
    --n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 64 --max-steps 400 --eval-every 400 \
    --log-every 50 --n-chars 2000000 --compile --amp --sample-tokens 0
speed nanogpt
step pretrain-cuda 150 $PY "${CAPSTONE[@]}" pretrain --out "$OUT_DIR/cuda" --preset cuda --quiet
speed cuda
step finetune-cuda 75 $PY "${CAPSTONE[@]}" finetune --out "$OUT_DIR/cuda" --preset cuda --quiet --labels 8,32,128 --seeds 2
step ddp-one-process 75 $PY -m torch.distributed.run --standalone --nproc_per_node=1 "${CAPSTONE[@]}" pretrain \
    --out "$OUT_DIR/ddp" --preset cuda --quiet --max-steps 600 --micro-batch-size 64
step ddp-resume 45 $PY -m torch.distributed.run --standalone --nproc_per_node=1 "${CAPSTONE[@]}" pretrain \
    --out "$OUT_DIR/ddp" --preset cuda --quiet --max-steps 800 --micro-batch-size 64 --resume
speed ddp
step pretrain-no-compile 40 $PY "${CAPSTONE[@]}" pretrain --out "$OUT_DIR/no-compile" --preset cuda --quiet \
    --no-compile --max-steps 300
speed no-compile

for run in nanogpt cuda ddp no-compile; do
    [ -f "$OUT_DIR/$run/results.json" ] && echo "== $run/results.json" && $PY -c "
import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps({k: r[k] for k in ('device', 'preset')}), json.dumps({k: v for k, v in r['pretrain'].items() if k != 'samples'}))" "$OUT_DIR/$run/results.json"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "all GPU checks passed"
