#!/usr/bin/env bash
# The paper's comparison on ../shared/data/covid-radiography: ResNet-18 from scratch, baseline (λ = 0)
# vs OS (λ = 0.01, batch variant), three seeds each, three-class and two-class (COVID-19 vs normal).
# Each run is trained on train.txt, selected on val.txt, calibrated on val.txt and evaluated on
# test.txt (`orthocxr train --seeds 0,1,2 --test`, settings in experiments/*.yaml). Then
# `orthocxr compare` tabulates each task. Sized for a 2-core machine:
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
  for model in baseline os; do
    lambda=0; [ "$model" = os ] && lambda=0.01
    run="$OUT/$task/$model"
    # One command per configuration: three seeds, each trained, calibrated on val and evaluated on test.
    "$BIN" train --config experiments/$model.yaml --label-map $task --image-size "$IMAGE_SIZE" \
      --epochs "$EPOCHS" --lambda $lambda --seeds 0,1,2 --output "$run" | grep -E '^(==|best|over|  )'
  done
  "$BIN" compare --baseline "$OUT/$task"/baseline/seed-* --candidate "$OUT/$task"/os/seed-* \
    --names baseline,OS > "$OUT/$task/comparison.md" || true
done
