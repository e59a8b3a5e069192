#!/usr/bin/env bash
# Reproduces the committed default model set bit-for-bit (models/default, including its
# training_distribution.json) and its evaluation report (docs/evaluation/), from the recorded
# seeds. `git diff --stat` afterwards shows no model change when the build is faithful.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked
mkdir -p work
"$BIN_PERIOP" synth --rows 150000 --seed 20261121 --out work/default-train.csv
"$BIN_PERIOP" synth --rows 20000 --seed 20261122 --out work/default-test.csv
"$BIN_PERIOP" train --data work/default-train.csv --out models/default --seed 42
"$BIN_PERIOP" evaluate --models models/default --data work/default-test.csv --out docs/evaluation
