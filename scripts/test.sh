#!/usr/bin/env bash
# The whole test suite on a fresh machine: setup, format and lint gates, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# PostgreSQL's server programs: the store contract and replica tests start throwaway clusters
# (as the non-root `postgres` user when run as root) in their own temporary directories.
if ! periop_postgres_bin >/dev/null; then
  echo "setup: installing postgresql from Debian (server programs for the audit-store tests)" >&2
  periop_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive periop_sudo apt-get install -y -qq postgresql
  periop_postgres_bin >/dev/null || { echo "setup: initdb, pg_ctl and postgres still not found under /usr/lib/postgresql/*/bin" >&2; exit 1; }
fi
cargo fmt --check
cargo clippy --release --locked --all-targets -- -D warnings
# The independent FHIR R4 / CDS Hooks validator that tests/fhir_validation.rs runs (a pinned
# venv from PyPI, made once: scripts/validators.sh).
FHIR_VALIDATOR_PYTHON="$(./scripts/validators.sh)"
export FHIR_VALIDATOR_PYTHON
cargo test --release --locked
# The API against its own OpenAPI document, with a key of each role (scripts/schemathesis.sh),
# on the binary `cargo test` just built ($BIN_PERIOP; a separate `cargo build` would recompile
# the dependencies without the dev-dependencies' features).
./scripts/schemathesis.sh
# The web page end to end in real headless Chromium (scripts/web-test.sh: Debian's chromium and,
# if missing, node and npm; playwright-core from tests/web/package-lock.json), on the same binary.
./scripts/web-test.sh
