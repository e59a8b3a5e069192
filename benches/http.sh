#!/usr/bin/env bash
# HTTP load on loopback: requests per second and p50/p99 latency of POST /v1/assessments with the
# audit store on (SQLite, synchronous=FULL), without and with explanations, and of
# POST /v1/assessments:batch with 100 patients per request. Uses wrk (Debian).
# Reports only; nothing here is a pass/fail test. Usage: benches/http.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v wrk >/dev/null 2>&1 || { periop_sudo apt-get update -qq; periop_sudo apt-get install -y -qq wrk; }
cargo build --release --locked
secs="${1:-10}"; conns="${2:-16}"
work="$(mktemp -d)"; trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
PERIOP_DEV_MODE_NO_AUTH=true PERIOP_BIND=127.0.0.1:18080 PERIOP_AUDIT_STORE="$work/audit.db" RUST_LOG=warn \
  "$BIN_PERIOP" serve 2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null 2>&1 && break; sleep 0.1; done
patient='{"age_years":67,"sex":"female","height_cm":162,"weight_kg":81.9,"smoking_status":"former","asa_class":3,"functional_status":"independent","diabetes":"non_insulin","hypertension":true,"osteoporosis":true,"history_of_vte":false,"hemoglobin_g_dl":12.4,"platelets_10e9_l":230,"albumin_g_dl":3.9,"creatinine_mg_dl":0.9,"bone_density_hu":98,"stenosis_grade":2,"procedure":"lumbar_fusion","fused_levels":3,"decompressed_levels":3,"fusion_to_sacrum":true,"planned_duration_min":240,"tranexamic_acid_planned":true,"odi_baseline":48}'
for explain in false true; do
  cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"patient":$patient,"explain":$explain}'
LUA
  echo "== POST /v1/assessments, explain=$explain, ${secs}s, $conns connections, 2 wrk threads =="
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" http://127.0.0.1:18080/v1/assessments \
    | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"
done
# Batches of 100 patients (explain false): one durable transaction per batch.
python3 - "$patient" > "$work/batch.json" <<'PY'
import json, sys
p = json.loads(sys.argv[1])
print(json.dumps({"items": [{"patient": p, "explain": False}] * 100}))
PY
cat > "$work/batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/batch.json", "r"); wrk.body = f:read("*a"); f:close()
LUA
echo "== POST /v1/assessments:batch, 100 patients per request, explain=false, ${secs}s, 4 connections =="
wrk -t2 -c4 -d"${secs}s" --latency -s "$work/batch.lua" http://127.0.0.1:18080/v1/assessments:batch \
  | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"
echo "audit records written: $("$BIN_PERIOP" audit verify --store "$work/audit.db" | head -n 3)"
