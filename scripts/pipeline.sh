#!/usr/bin/env bash
# The offline pipeline: generate a synthetic cohort and a test cohort, train a model set, evaluate it,
# and print where the report is. Everything lands under ./work/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked
"$BIN_PERIOP" synth --rows 150000 --seed 20261121 --out work/cohort.csv
"$BIN_PERIOP" synth --rows 20000 --seed 20261122 --out work/test.csv
"$BIN_PERIOP" train --data work/cohort.csv --out work/models/demo --seed 42
"$BIN_PERIOP" evaluate --models work/models/demo --data work/test.csv --out work/report
echo
echo "SYNTHETIC data only. Report: $(pwd)/work/report/README.md (metrics.json, cards/, plots/)"
