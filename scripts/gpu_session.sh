#!/usr/bin/env bash
# Everything one lent GPU session measures, as one command (the device tool's 15 minutes allow
# one such call): benchmarks/gpu_step.py (--quick --compare-knobs --profile), then the GPU
# determinism audit (scripts/gpu_audit.sh) in the time left. Everything lands in OUT/res and is
# packed into OUT/results.tar.gz (the tool returns at most 8 files).
#   bash scripts/gpu_session.sh OUT [BUDGET_S]
# BUDGET_S (default 520): wall seconds for both parts; the audit gets what the benchmark left.
# Each part is cut by `timeout`; what it printed before the cut stays in its log.
set -uo pipefail
out=${1:?usage: gpu_session.sh OUT [BUDGET_S]}
budget=${2:-520}
res="$out/res"
mkdir -p "$res"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

{
  date -u
  nvidia-smi
  python3 -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda,
'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')"
  git -C "$(dirname "$0")/.." rev-parse HEAD 2>/dev/null || true
} > "$res/env.txt" 2>&1

timeout "${STEP_BUDGET:-190}" python3 benchmarks/gpu_step.py --quick --compare-knobs --profile \
  --out "$res/gpu_step.json" > "$res/gpu_step.txt" 2>&1
echo "gpu_step.py rc=$? after $(elapsed) s" >> "$res/env.txt"

left=$(( budget - $(elapsed) ))
if (( left > 60 )); then
  SEEDS="${SEEDS:-1 2}" EVAL_SEEDS="${EVAL_SEEDS:-3}" EVERY="${EVERY:-50}" \
    timeout "$left" bash "$(dirname "$0")/gpu_audit.sh" "$res/audit" "${STEPS:-200}" > "$res/audit_log.txt" 2>&1
  echo "gpu_audit.sh rc=$? after $(elapsed) s (given $left s)" >> "$res/env.txt"
else
  echo "gpu_audit.sh not run: $left s left" >> "$res/env.txt"
fi
tar czf "$out/results.tar.gz" -C "$out" res
cat "$res/env.txt"
