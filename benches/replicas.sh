#!/usr/bin/env bash
# Assessments per second and p50/p99 latency of POST /v1/assessments (explain=false) with the
# audit store on SQLite (one process) and on PostgreSQL with 1 and 2 replicas, on this machine,
# on loopback. A throwaway PostgreSQL cluster (Debian's, installed when missing) runs as the
# non-root `postgres` user in a temporary directory. With 2 replicas, one wrk per replica runs at
# once and their rates are added. Reports only; nothing here is a pass/fail test.
# Usage: benches/replicas.sh [seconds] [connections per replica]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v wrk >/dev/null 2>&1 || { periop_sudo apt-get update -qq; periop_sudo apt-get install -y -qq wrk; }
periop_postgres_bin >/dev/null || { periop_sudo apt-get update -qq; periop_sudo apt-get install -y -qq postgresql; }
cargo build --release --locked
secs="${1:-10}"; conns="${2:-16}"
pgbin="$(periop_postgres_bin)"
work="$(mktemp -d)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres: "$work"
pgport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$work/pg" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null
patient='{"age_years":67,"sex":"female","height_cm":162,"weight_kg":81.9,"smoking_status":"former","asa_class":3,"functional_status":"independent","diabetes":"non_insulin","hypertension":true,"osteoporosis":true,"history_of_vte":false,"hemoglobin_g_dl":12.4,"platelets_10e9_l":230,"albumin_g_dl":3.9,"creatinine_mg_dl":0.9,"bone_density_hu":98,"stenosis_grade":2,"procedure":"lumbar_fusion","fused_levels":3,"decompressed_levels":3,"fusion_to_sacrum":true,"planned_duration_min":240,"tranexamic_acid_planned":true,"odi_baseline":48}'
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"patient":$patient,"explain":false}'
LUA

serve() { # $1 port, $2 store
  PERIOP_DEV_MODE_NO_AUTH=true PERIOP_BIND="127.0.0.1:$1" PERIOP_AUDIT_STORE="$2" RUST_LOG=warn \
    "$BIN_PERIOP" serve 2>>"$work/server-$1.log" &
  pids+=($!)
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server on $1 did not start" >&2; cat "$work/server-$1.log" >&2; exit 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=(); }
run() { # $1 label, then ports
  local label="$1"; shift
  echo "== $label: ${secs}s, $conns connections per replica =="
  local outs=()
  for port in "$@"; do
    wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/v1/assessments" > "$work/wrk-$port.txt" &
    outs+=($!)
  done
  for o in "${outs[@]}"; do wait "$o"; done
  local total=0
  for port in "$@"; do
    echo "  replica :$port $(grep -E 'Requests/sec' "$work/wrk-$port.txt" | tr -s ' ') | p50 $(awk '/ 50%/{print $2}' "$work/wrk-$port.txt") | p99 $(awk '/ 99%/{print $2}' "$work/wrk-$port.txt") $(grep -E 'Non-2xx' "$work/wrk-$port.txt" || true)"
    total="$(python3 -c "print($total + $(awk '/Requests\/sec/{print $2}' "$work/wrk-$port.txt"))")"
  done
  echo "  total: $(printf "%.0f" "$total") assessments/s"
}

serve 18181 "$work/audit.db"
run "SQLite, 1 replica" 18181
stop_all
pg="postgres://postgres@127.0.0.1:$pgport/postgres"
serve 18182 "$pg"
run "PostgreSQL, 1 replica" 18182
serve 18183 "$pg"
run "PostgreSQL, 2 replicas" 18182 18183
stop_all
"$BIN_PERIOP" audit verify --store "$pg" | head -n 3
