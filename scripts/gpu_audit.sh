#!/usr/bin/env bash
# The GPU determinism audit (issue 6 item 9): resnet_default vs resnet_all at 32x32 on CUDA,
# paper widths, digits resized to 32x32, a few hundred steps; plus `repro scan` on the GPU.
#   bash scripts/gpu_audit.sh OUT_DIR [STEPS]
# Needs torch with CUDA, numpy, scipy, scikit-learn, matplotlib, pillow, nvidia-ml-py
# (no MLflow: --no-mlflow). Runs live in a scratch directory; OUT_DIR gets the report.
set -euo pipefail
out=${1:?usage: gpu_audit.sh OUT_DIR [STEPS]}
steps=${2:-300}
every=${EVERY:-50}
seeds=${SEEDS:-"1 2 3 4"}   # extra seeds: the verdict needs at least 3 a side (issue 11)
runs=$(mktemp -d)
mkdir -p "$out"
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export REPRO_CACHE_DIR="$runs/cache"
device=${DEVICE:-cuda}   # DEVICE=cpu for a dry run of the script itself
width=${WIDTH:-1.0}
common=(--set resolution=32 --set recipe=bilinear32 --set width="$width" --set device="$device")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia_smi.txt" 2>&1 || true
python3 -m repro scan --variant resnet_all "${common[@]}" > "$out/scan.json"
python3 -m repro audit --quiet --no-mlflow --variant resnet_all --baseline-variant resnet_default \
  --steps "$steps" --set checkpoint_every="$every" --set trace_every=10 "${common[@]}" \
  --seeds $seeds --eval-seeds ${EVAL_SEEDS:-5} --runs-dir "$runs/runs" --out "$runs/audit"
cp "$runs/audit/report.json" "$runs/audit/report.md" "$runs/audit/metrics.json" "$out/"
cp "$runs/audit/figures/divergence.png" "$runs/audit/figures/losses.png" "$out/"
