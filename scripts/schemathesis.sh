#!/usr/bin/env bash
# schemathesis (PyPI) against a real `periop serve` on loopback, once per role (ehr, clinician,
# quality, admin: admin last, since its stateful run uploads and activates rule versions), with
# every check (`--checks all`), every phase (examples, coverage, fuzzing, stateful), a fixed
# seed and bounded example counts. Fails on any failure or server error. Needs $BIN_PERIOP (set
# by scripts/env.sh). Scratch files live in a mktemp directory, removed at exit.
# Tuning: ST_SEED (default 20261201), ST_MAX_EXAMPLES (default 25 per operation).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VERSION=4.32.5
VENV="${SCHEMATHESIS_VENV:-$HOME/.cache/periop/schemathesis-$VERSION}"
if [ ! -x "$VENV/bin/st" ]; then
  echo "setup: installing schemathesis $VERSION from PyPI into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi
SEED="${ST_SEED:-20261201}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
ROLES=(ehr clinician quality admin)
declare -A KEYS
{
  echo "bind = \"127.0.0.1:$PORT\""
  echo "models = \"$ROOT/models/default\""
  echo "audit_store = \"$WORK/audit.db\""
  for role in "${ROLES[@]}"; do
    KEYS[$role]="st-$role-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    sha="$(printf '%s' "${KEYS[$role]}" | sha256sum | cut -d' ' -f1)"
    printf '\n[[api_keys]]\nid = "schemathesis-%s"\nrole = "%s"\nsha256 = "%s"\n' "$role" "$role" "$sha"
  done
} >"$WORK/periop.toml"
"$BIN_PERIOP" serve --config "$WORK/periop.toml" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 60); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$BASE/healthz" >/dev/null || { echo "schemathesis: the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

status=0
for role in "${ROLES[@]}"; do
  echo "schemathesis: role $role, seed $SEED, $MAX_EXAMPLES examples per operation" >&2
  (
    cd "$WORK"
    timeout --kill-after=15 900 "$VENV/bin/st" --config-file "$ROOT/tests/schemathesis/schemathesis.toml" \
      run "$BASE/openapi.json" --url "$BASE" \
      --header "Authorization: Bearer ${KEYS[$role]}" \
      --checks all --phases examples,coverage,fuzzing,stateful --mode all \
      --seed "$SEED" --max-examples "$MAX_EXAMPLES" --generation-database none \
      --workers 1 --request-timeout 60 --no-color
  ) >"$WORK/st-$role.log" 2>&1 || status=1
  sed -n '/SUMMARY/,$p' "$WORK/st-$role.log" >&2
  if [ "$status" -ne 0 ]; then
    echo "schemathesis: role $role FAILED; full output:" >&2
    cat "$WORK/st-$role.log" >&2
    break
  fi
done
# Everything schemathesis got acknowledged is in the chain, and the chain verifies.
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
"$BIN_PERIOP" audit verify --store "$WORK/audit.db" >&2 || status=1
# periop's own errors (actix's HTTP parser logs malformed requests at ERROR too; those are
# answered 400 and are not server failures).
if grep '"level":"ERROR"' "$WORK/server.log" | grep -q '"target":"periop'; then
  echo "schemathesis: the server logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" | grep '"target":"periop' | head -20 >&2
  status=1
fi
exit "$status"
