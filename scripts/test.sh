#!/usr/bin/env bash
# The whole test suite on a fresh machine: setup, format and lint gates, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo fmt --check
cargo clippy --release --locked --all-targets -- -D warnings
cargo test --release --locked
# The API against its own OpenAPI document, with a key of each role (scripts/schemathesis.sh),
# on the binary `cargo test` just built ($BIN_PERIOP; a separate `cargo build` would recompile
# the dependencies without the dev-dependencies' features).
./scripts/schemathesis.sh
