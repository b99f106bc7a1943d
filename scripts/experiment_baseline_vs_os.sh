#!/usr/bin/env bash
# The paper's comparison on ../shared/data/covid-radiography: ResNet-18 from scratch, baseline (λ = 0)
# vs OS (λ = 0.01, batch variant), three seeds each, three-class and two-class (COVID-19 vs normal).
# Each run is trained on train.txt, selected on val.txt, calibrated on val.txt and evaluated on
# test.txt. Then `orthocxr compare` tabulates each task. Sized for a 2-core machine:
# IMAGE_SIZE (default 128) and EPOCHS (default 5) can be raised where there is more compute.
#
#   scripts/experiment_baseline_vs_os.sh [OUTPUT_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/covid-radiography
OUT=${1:-runs/experiment}
IMAGE_SIZE=${IMAGE_SIZE:-128}
EPOCHS=${EPOCHS:-5}
BIN=.build/release/orthocxr
[ -x "$BIN" ] || swift build -c release --product orthocxr
for task in three-class covid-vs-normal; do
  for seed in 0 1 2; do
    for model in baseline os; do
      lambda=0; [ "$model" = os ] && lambda=0.01
      run="$OUT/$task/$model-seed$seed"
      if [ -f "$run/test-metrics.json" ]; then continue; fi
      echo "== $task $model seed $seed"
      "$BIN" train --train $DATA/train.txt --val $DATA/val.txt --label-map $task --image-size "$IMAGE_SIZE" \
        --epochs "$EPOCHS" --lambda $lambda --os-variant batch --seed $seed --output "$run" | tail -n 3
      "$BIN" calibrate --checkpoint "$run/best.safetensors" --data $DATA/val.txt | tail -n 4
      "$BIN" evaluate --checkpoint "$run/best-calibrated.safetensors" --data $DATA/test.txt \
        --output "$run/test-metrics.json" --predictions "$run/test-predictions.csv" > "$run/test-report.txt"
    done
  done
  "$BIN" compare --baseline "$OUT/$task"/baseline-seed* --candidate "$OUT/$task"/os-seed* \
    --names baseline,OS > "$OUT/$task/comparison.md" || true
done
