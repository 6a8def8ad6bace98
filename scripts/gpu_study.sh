#!/usr/bin/env bash
# A slice of the study on a GPU (issue 13 item 5): ResNet CIFAR and SNDCGAN at 32x32 with the
# paper's widths on digits resized to 32x32, the presets' Table 1 setting (compare_gan's n_dis 5,
# batch 32: the default audit's recipe), 5 seeds, then the
# paper's claims checked on it (claims the slice does not cover are listed as "not tested").
#   bash scripts/gpu_study.sh OUT_DIR [STEPS]
# Budget: sized for a few minutes of an H100/H200 (18 runs; the H200 audit measured about 0.05 s
# per ResNet CIFAR step at 32x32, so 300 steps is about 15 s of training per run, plus start-up
# and evaluation). Override VARIANTS, SEEDS, JOBS (runs at once on the one GPU) or DEVICE=cpu
# (a dry run of the script itself, e.g. `DEVICE=cpu WIDTH=0.0625 bash scripts/gpu_study.sh /tmp/g 2`).
# Needs torch with CUDA and the project's dependencies (Optuna is not needed: a Table 1 slice). No MLflow.
set -euo pipefail
out=${1:?usage: gpu_study.sh OUT_DIR [STEPS]}
steps=${2:-300}
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch=$(mktemp -d)
mkdir -p "$out"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export REPRO_CACHE_DIR="$scratch/cache"
device=${DEVICE:-cuda}
width=${WIDTH:-1.0}
seeds=${SEEDS:-0-4}
jobs=${JOBS:-1}
variants=${VARIANTS:-resnet_default,resnet_ns_none_none,resnet_cin,resnet_cin_opt,sndcgan_ns_sn_none,sndcgan_ns_none_none}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi (device=$device)"
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')"
} > "$out/device.txt"
start=$(date +%s)
python3 -m repro study --no-mlflow --variants "$variants" --settings lr2e-4_lam1_b0.5-0.999_ndis5 \
  --seeds "$seeds" --steps "$steps" --jobs "$jobs" \
  --set resolution=32 --set recipe=bilinear32 --set width="$width" --set device="$device" \
  --set batch_size="${BATCH:-32}" --set checkpoint_every="$steps" --out "$scratch/study" --report "$out" 2>&1 | tee "$out/log.txt"
python3 -m repro claims --study "$out" --claims "$root/claims/kurach2019.yaml" --skip-untestable | tee -a "$out/log.txt"
echo "gpu_study: $(( $(date +%s) - start )) s on $(head -2 "$out/device.txt" | tail -1)" | tee -a "$out/log.txt"
rm -rf "$scratch"
