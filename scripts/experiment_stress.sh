#!/usr/bin/env bash
# Robustness of the runs of scripts/experiment_baseline_vs_os.sh (TASK/{baseline,os}/seed-N): the 13
# stress families at severities 1–5 on every test image (25 minutes on 2 cores), then the paediatric
# Kermany sample as an external source (evaluate each run, stress both configurations). Results in TASK/stress/,
# TASK/stress-kermany/ and TASK/*/seed-*/kermany-metrics.json; docs/experiment.md reads them.
#
#   scripts/experiment_stress.sh [TASK_FOLDER]     (default runs/experiment/three-class)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
TASK=${1:-runs/experiment/three-class}
BIN=.build/release/orthocxr
[ -x "$BIN" ] || swift build -c release --product orthocxr
"$BIN" stress --checkpoint "$TASK/baseline" --compare "$TASK/os" --names baseline,OS \
  --data $DATA/covid-radiography/test.txt --heatmap-images 60 --output "$TASK/stress" | head -6
"$BIN" stress --checkpoint "$TASK/baseline" --compare "$TASK/os" --names baseline,OS \
  --data $DATA/kermany-sample/labels.txt --heatmap-images 16 --bootstrap 1000 --output "$TASK/stress-kermany" | head -6
for run in "$TASK"/baseline/seed-* "$TASK"/os/seed-*; do
  "$BIN" evaluate --checkpoint "$run/best-calibrated.safetensors" --data $DATA/kermany-sample/labels.txt \
    --output "$run/kermany-metrics.json" | sed -n 3p
done
