#!/usr/bin/env bash
# Reproduces the built-in model (docs/training.md): data, float pre-training,
# 4-bit native QAT fine-tune, copy to qasr_native/assets/builtin.qasr.
# Run from the repository root after scripts/dev_build.sh (or with the package installed).
# Each step resumes: rerun after an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
Q="python -m qasr_native.cli"
NICE=${NICE:-nice -n 10}
JOBS=${JOBS:-2}
# 4000 training clips: 160 training speakers x 25 train-split sentences, augmented.
$NICE $Q data synth --out work/synth/train --speakers train:160 --clips-per-speaker 25 --augment --seed 0 --jobs "$JOBS" --quiet
# Validation (checkpoint choice, the training log): training speakers 161-170 of the same list,
# never in the training set, speaking dev-split sentences.
VAL=gb-f3-p68-s198,rp-m3-p27-s144-g1,carib-linda-p44-s174,us-quincy-p58-s195,lanc-belinda-p73-s150,carib-klatt2-p43-s173-g2,rp-alicia-p65-s153-g3,wmid-benjamin-p51-s180,wmid-f5-p72-s189,rp-lee-p42-s158
$NICE $Q data synth --out work/synth/val --speakers "$VAL" --clips-per-speaker 20 --split dev --seed 1 --jobs "$JOBS" --quiet
# Held-out speakers (reserved vocal tracts): test (test-split sentences) and calibration (dev split).
$NICE $Q data synth --out work/synth/heldout_test --speakers heldout --clips-per-speaker 40 --split test --seed 2 --jobs "$JOBS" --quiet
$NICE $Q data synth --out work/synth/heldout_calib --speakers heldout --clips-per-speaker 20 --split dev --seed 3 --jobs "$JOBS" --quiet
$NICE $Q train --config builtin_float --resume
$NICE $Q train --config builtin_qat4 --resume
cp work/runs/builtin_qat4/builtin.qasr qasr_native/assets/builtin.qasr
ls -l qasr_native/assets/builtin.qasr
