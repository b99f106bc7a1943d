#!/usr/bin/env bash
# The OS ablation of docs/experiment.md ("Where does OS help?"), in three steps:
#
#   scripts/experiment_ablation.sh screen        # step 1: λ and variant, ± augmentation, 2 seeds
#   scripts/experiment_ablation.sh scarcity      # step 2: baseline vs an OS setting on 10/25/100%
#   scripts/experiment_ablation.sh faithfulness COMBINATION...
#                                                # step 3: Grad-CAM faithfulness of the screen's
#                                                # COMBINATION runs (folder names) against the baseline
#
# Steps 1 and 2 are `orthocxr sweep` over experiments/sweep-{screen,scarcity}.yaml (run again to
# continue after a stop; the summaries are in runs/ablation/*/summary.md). Step 2 compares the OS
# setting written in experiments/sweep-scarcity.yaml: put the best of step 1 there. Step 3 explains
# the same 150 test images (in turn from each class) with each seed's baseline and COMBINATION model
# and writes the paired differences (deletion, insertion, ROAD) to
# runs/ablation/faithfulness/COMBINATION-seedN/comparison.csv. JOBS (default 2) runs sweeps in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/orthocxr
[ -x "$BIN" ] || swift build -c release --product orthocxr
step=${1:?say screen, scarcity or faithfulness}
shift || true
case "$step" in
  screen | scarcity)
    # The sweep starts its runs from its own executable: a copy keeps a rebuild from changing a
    # sweep midway.
    copy=$(mktemp /tmp/orthocxr-sweep.XXXXXX)
    trap 'rm -f "$copy"' EXIT
    cp "$BIN" "$copy"
    "$copy" sweep --config "experiments/sweep-$step.yaml" --jobs "${JOBS:-2}"
    ;;
  faithfulness)
    [ $# -gt 0 ] || { echo "name the screen's combinations to explain (folder names under runs/ablation/screen)"; exit 2; }
    SCREEN=runs/ablation/screen
    for combination in "$@"; do
      # The baseline of the same augmentation setting.
      baseline=lambda-0_${combination##*_}
      for run in "$SCREEN/$combination"/seed-*; do
        seed=${run##*/}
        out=runs/ablation/faithfulness/$combination-$seed
        echo "== $combination vs $baseline, $seed"
        "$BIN" explain --checkpoint "$SCREEN/$baseline/$seed/best-calibrated.safetensors" \
          --compare "$run/best-calibrated.safetensors" --names "baseline,$combination" \
          --data ../shared/data/covid-radiography/test.txt --limit 150 --output "$out" | tail -6
      done
    done
    ;;
  *) echo "unknown step $step: say screen, scarcity or faithfulness"; exit 2 ;;
esac
