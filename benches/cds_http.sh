#!/usr/bin/env bash
# CDS Hooks over HTTP on loopback (issue 9): requests per second, p50/p99 latency and the non-2xx
# count of POST /cds-services/periop-spine-risk-order-select with a full order-select body
# (benches/data/order-select-lumbar-fusion.json: prefetch + draftOrders, its dates moved to today),
# audit store on (SQLite in a temp dir, synchronous=FULL). Then the same patient through
# POST /v1/assessments (explain true, missing_input_ranges false and true) to show what the CDS
# path adds: the equivalent JSON patient is the `inputs.used` of the recorded CDS answer. Run 1 is
# in development mode (cds_development_mode = true: no JWT); run 2, when python3 has
# `cryptography`, is a second server checking ES384 JWTs (a key pair made here, its JWKS as a
# file, one pre-minted token with a fresh jti per request). Uses wrk (Debian). Reports only;
# nothing here is a pass/fail test. Usage: benches/cds_http.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v wrk >/dev/null 2>&1 || { periop_sudo apt-get update -qq; periop_sudo apt-get install -y -qq wrk; }
cargo build --release --locked
secs="${1:-10}"; conns="${2:-8}"; threads=$(( conns < 2 ? conns : 2 ))
port=18090; base="http://127.0.0.1:$port"; service="periop-spine-risk-order-select"
work="$(mktemp -d)"; trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

# The fixture's dates are relative to its "today", 2026-12-01: move them all to today, so every
# look-back window holds the same observations whatever day this runs.
python3 - benches/data/order-select-lumbar-fusion.json "$work/hook.json" <<'PY'
import datetime, json, re, sys
shift = datetime.date.today() - datetime.date(2026, 12, 1)
def move(m):
    return (datetime.date.fromisoformat(m.group(0)) + shift).isoformat()
text = open(sys.argv[1]).read()
text = re.sub(r"(?<![0-9])\d{4}-\d{2}-\d{2}(?![0-9])", move, text)
json.dump(json.loads(text), open(sys.argv[2], "w"))
PY

start_server() { # $1: extra TOML
  cat > "$work/periop.toml" <<TOML
bind = "127.0.0.1:$port"
public_url = "$base"
models = "$PWD/models/default"
audit_store = "$work/audit.db"
dev_mode_no_auth = true
$1
TOML
  RUST_LOG=warn "$BIN_PERIOP" serve --config "$work/periop.toml" 2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 200); do curl -sf "$base/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "the server did not become ready:" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=0; }

# wrk with a fixed POST body; prints the figures and the non-2xx count (0 when wrk prints none).
load() { # $1 title, $2 URL, $3 body file, $4 extra Lua (optional)
  cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$3", "r"); wrk.body = f:read("*a"); f:close()
${4:-}
LUA
  echo "== $1, ${secs}s, $conns connections, $threads wrk threads =="
  wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "$2" > "$work/wrk.out"
  grep -E "Requests/sec|^ +(50|90|99)%|requests in|Socket errors" "$work/wrk.out"
  grep -E "Non-2xx" "$work/wrk.out" || echo "  Non-2xx or 3xx responses: 0"
}

# --- Run 1: development mode (no JWT) ---
start_server "cds_development_mode = true"
curl -sf -X POST -H 'content-type: application/json' --data @"$work/hook.json" \
  "$base/cds-services/$service" > "$work/card.json"
python3 - "$work/card.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
cards = r["cards"]
assert len(cards) == 1 and cards[0]["summary"] and cards[0]["uuid"], r
print("one card:", cards[0]["summary"])
print("  indicator", cards[0]["indicator"], "| suggestions", len(cards[0].get("suggestions", [])),
      "| detail", len(cards[0]["detail"]), "chars | response", len(json.dumps(r)), "bytes")
PY
uuid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cards"][0]["uuid"])' "$work/card.json")"
curl -sf "$base/v1/assessments/$uuid" > "$work/stored.json"
python3 - "$work/stored.json" "$work" <<'PY'
import json, sys
stored = json.load(open(sys.argv[1]))
used = {u["feature"]: u["value"] for u in stored["inputs"]["used"]}
r = stored.get("missing_input_ranges") or {}
print(f"the CDS answer: {len(used)} inputs used, {len(stored['inputs']['missing'])} missing; "
      f"missing-input ranges: {r.get('patients_evaluated')} patients, {r.get('model_evaluations')} model evaluations")
for ranges in ("false", "true"):
    body = {"patient": used, "explain": True, "missing_input_ranges": ranges == "true"}
    json.dump(body, open(f"{sys.argv[2]}/rest-{ranges}.json", "w"))
PY
load "POST /cds-services/$service (development mode, no JWT)" "$base/cds-services/$service" "$work/hook.json"
for ranges in false true; do
  load "POST /v1/assessments, same patient, explain=true, missing_input_ranges=$ranges" \
    "$base/v1/assessments" "$work/rest-$ranges.json"
done
stop_server

# --- Run 2: ES384 JWTs checked (one fresh token per request) ---
if ! python3 -c 'import cryptography' 2>/dev/null; then
  echo "== JWT run skipped: python3 has no 'cryptography' module =="
  exit 0
fi
iss="https://ehr.bench/issuer"
# A P-384 key made now (never stored outside the temp dir); its public JWKS for the server; then,
# after the server is up, 12,000 tokens per wrk thread (iat now, exp now + 300 s, unique jti).
python3 - "$work" "$iss" "$base/cds-services/$service" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
work = sys.argv[1]
key = ec.generate_private_key(ec.SECP384R1())
nums = key.public_key().public_numbers()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
jwk = {"kty": "EC", "crv": "P-384", "kid": "bench-1", "alg": "ES384", "use": "sig",
       "x": b64(nums.x.to_bytes(48, "big")), "y": b64(nums.y.to_bytes(48, "big"))}
json.dump({"keys": [jwk]}, open(f"{work}/ehr.jwks.json", "w"))
open(f"{work}/ehr.key.pem", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PY
start_server "cds_development_mode = false
[[cds_issuers]]
iss = \"$iss\"
jwks_file = \"$work/ehr.jwks.json\""
python3 - "$work" "$iss" "$base/cds-services/$service" <<'PY'
import base64, json, sys, time, uuid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
work, iss, aud = sys.argv[1:4]
key = serialization.load_pem_private_key(open(f"{work}/ehr.key.pem", "rb").read(), None)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "ES384", "typ": "JWT", "kid": "bench-1"}).encode())
now = int(time.time())
for thread in (1, 2):
    with open(f"{work}/tokens-{thread}.txt", "w") as out:
        for _ in range(12000):
            claims = b64(json.dumps({"iss": iss, "aud": aud, "iat": now, "exp": now + 300,
                                     "jti": str(uuid.uuid4())}).encode())
            r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA384())))
            out.write(f"{header}.{claims}.{b64(r.to_bytes(48, 'big') + s.to_bytes(48, 'big'))}\n")
PY
token="$(head -n 1 "$work/tokens-1.txt")"
code="$(curl -s -o "$work/card-jwt.json" -w '%{http_code}' -X POST -H 'content-type: application/json' \
  -H "authorization: Bearer $token" --data @"$work/hook.json" "$base/cds-services/$service")"
[ "$code" = 200 ] || { echo "the signed call answered $code: $(cat "$work/card-jwt.json")" >&2; exit 1; }
code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
  -H "authorization: Bearer $token" --data @"$work/hook.json" "$base/cds-services/$service")"
echo "signed call: 200 with a card; the same token again: $code (replay refused)"
# Each wrk thread reads its own token file (the first token is used up) and sends each token once;
# if it ran out it would resend the last one, which is refused (and counted as non-2xx).
load "POST /cds-services/$service (ES384 JWT checked, one fresh token per request)" \
  "$base/cds-services/$service" "$work/hook.json" "
local counter = 1
function setup(thread) counter = counter + 1; thread:set('tokens', '$work/tokens-' .. (counter - 1) .. '.txt') end
function init(args)
  list = {}; for line in io.lines(tokens) do list[#list + 1] = line end
  if tokens:find('tokens%-1') then table.remove(list, 1) end
  i = 0
end
function request()
  i = math.min(i + 1, #list)
  return wrk.format(nil, nil, {['Content-Type'] = 'application/json', ['Authorization'] = 'Bearer ' .. list[i]}, wrk.body)
end"
stop_server
echo "audit records written: $("$BIN_PERIOP" audit verify --store "$work/audit.db" | head -n 3)"
