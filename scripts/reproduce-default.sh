#!/usr/bin/env bash
# Reproduces the committed default model set bit-for-bit (models/default) and its evaluation
# report (docs/evaluation/), from the recorded seeds. `git diff --stat` afterwards shows no model
# change when the build is faithful.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked
mkdir -p work
"$PERIOP_BIN" synth --rows 150000 --seed 20261121 --out work/default-train.csv
"$PERIOP_BIN" synth --rows 20000 --seed 20261122 --out work/default-test.csv
"$PERIOP_BIN" train --data work/default-train.csv --out models/default --seed 42
"$PERIOP_BIN" evaluate --models models/default --data work/default-test.csv --out docs/evaluation
