#!/usr/bin/env bash
# The GPU determinism audit: resnet_all vs resnet_default at 32x32 on CUDA, paper widths, digits
# resized to 32x32, the default audit's recipe (compare_gan's n_dis 5, batch 32, 300 steps), 5 seeds
# a side, every run in a fresh process; every pair that is not bit-identical (on a GPU, the
# nondeterministic pairs) is replayed and the ops that differ on equal inputs are named in the
# report's "Where the runs part ways". Plus `repro scan` and `repro scan --run-twice` on the GPU.
#   bash scripts/gpu_audit.sh OUT_DIR [STEPS]
# A dry run of the script itself on a CPU (tests/test_gpu_scripts.py):
#   DEVICE=cpu WIDTH=0.0625 EVERY=2 SEEDS="1" EVAL_SEEDS=1 bash scripts/gpu_audit.sh /tmp/g 2
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
batch=${BATCH:-32}
common=(--set resolution=32 --set recipe=bilinear32 --set width="$width" --set device="$device")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/nvidia_smi.txt" 2>&1 || true
python3 -m repro scan --variant resnet_all "${common[@]}" > "$out/scan.json"
python3 -m repro scan --run-twice --variant resnet_all "${common[@]}" --set batch_size="$batch" > "$out/scan_twice.json"
python3 -m repro audit --quiet --no-mlflow --variant resnet_all --baseline-variant resnet_default \
  --steps "$steps" --set checkpoint_every="$every" --set trace_every=${TRACE_EVERY:-10} --set batch_size="$batch" \
  "${common[@]}" \
  --seeds $seeds --eval-seeds ${EVAL_SEEDS:-5} --runs-dir "$runs/runs" --out "$runs/audit"
cp "$runs/audit/report.json" "$runs/audit/report.md" "$out/"
cp -r "$runs/audit/metrics" "$runs/audit/figures" "$out/"
if [ -d "$runs/audit/localize" ]; then  # each localised pair: localization.json (op records are large: left out)
  (cd "$runs/audit" && find localize -name localization.json -exec cp --parents {} "$out/" \;)
fi
