#!/usr/bin/env bash
# The offline pipeline: generate a synthetic cohort and a test cohort, train a model set, evaluate it,
# and print where the report is. Everything lands under ./work/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked
"$PERIOP_BIN" synth --rows 150000 --seed 20261121 --out work/cohort.csv
"$PERIOP_BIN" synth --rows 20000 --seed 20261122 --out work/test.csv
"$PERIOP_BIN" train --data work/cohort.csv --out work/models/demo --seed 42
"$PERIOP_BIN" evaluate --models work/models/demo --data work/test.csv --out work/report
echo
echo "SYNTHETIC data only. Report: $(pwd)/work/report/README.md (metrics.json, cards/, plots/)"
