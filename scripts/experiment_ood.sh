#!/usr/bin/env bash
# Out-of-distribution detection on the runs of scripts/experiment_baseline_vs_os.sh: for each
# baseline and OS run (TASK/{baseline,os}/seed-N), fit the detector (train --test already did, this
# refits with the current code), evaluate the test split (risk–coverage), benchmark the OOD sets
# (the paediatric Kermany sample, the pydicom files of other modalities, generated non-radiographs),
# then compare OS with the baseline, paired by seed and image. Results in TASK/ood-comparison.md and
# TASK/comparison.md.
#
#   scripts/experiment_ood.sh [TASK_FOLDER]     (default runs/experiment/three-class)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
TASK=${1:-runs/experiment/three-class}
BIN=.build/release/orthocxr
[ -x "$BIN" ] || swift build -c release --product orthocxr
for model in baseline os; do
  for run in "$TASK/$model"/seed-*; do
    checkpoint=$run/best-calibrated.safetensors
    echo "== $run"
    "$BIN" ood fit --checkpoint "$checkpoint" --data $DATA/covid-radiography/train.txt \
      --val $DATA/covid-radiography/val.txt | tail -4
    "$BIN" evaluate --checkpoint "$checkpoint" --data $DATA/covid-radiography/test.txt \
      --output "$run/test-metrics.json" --uncalibrated-output "$run/test-metrics-uncalibrated.json" \
      --predictions "$run/test-predictions.csv" | grep -E '^(accuracy|risk|out of)'
    "$BIN" ood evaluate --checkpoint "$checkpoint" --data $DATA/covid-radiography/test.txt \
      --ood paediatric=$DATA/kermany-sample --ood other-modalities=$DATA/dicom/pydicom-test-files \
      --output "$run/ood.json" --markdown "$run/ood.md" > /dev/null
  done
done
"$BIN" ood compare --baseline "$TASK"/baseline/seed-*/ood.json --candidate "$TASK"/os/seed-*/ood.json \
  --names baseline,OS --markdown "$TASK/ood-comparison.md"
"$BIN" compare --baseline "$TASK"/baseline/seed-* --candidate "$TASK"/os/seed-* --names baseline,OS \
  > "$TASK/comparison.md"
