#!/usr/bin/env bash
# The main job: start the assessment API on the embedded defaults (127.0.0.1:8080, the committed
# model set models/default, audit store ./periop-audit.db). The default set is re-trained from
# its recorded seeds only if it is missing. With ./periop.toml present it is used as the config
# (API keys: `periop keys new --role admin`); without it the server runs in the explicit
# development mode (no API key, logged loudly at start) on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked
if [ ! -f models/default/model_set.json ]; then
  echo "models/default is missing: re-training it from the recorded seeds (several minutes)" >&2
  ./scripts/reproduce-default.sh
fi
if [ -f periop.toml ]; then
  exec "$BIN_PERIOP" serve --config periop.toml
else
  echo "no ./periop.toml: starting in DEVELOPMENT MODE (no API key) on 127.0.0.1:8080; synthetic models only" >&2
  PERIOP_DEV_MODE_NO_AUTH=true PERIOP_BIND=127.0.0.1:8080 exec "$BIN_PERIOP" serve
fi
