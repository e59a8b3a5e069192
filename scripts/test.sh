#!/usr/bin/env bash
# The whole test suite on a fresh machine: setup, format and lint gates, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo fmt --check
cargo clippy --release --locked --all-targets -- -D warnings
cargo test --release --locked
# The API against its own OpenAPI document, with a key of each role (scripts/schemathesis.sh).
cargo build --release --locked --bin periop
./scripts/schemathesis.sh
