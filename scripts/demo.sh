#!/usr/bin/env bash
# The main job, end to end: serve the hello app and curl it.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${DEMO_PORT:-3000}
log=$(mktemp)
./target/debug/spinrt up --from tests/apps/manifests/hello --listen "127.0.0.1:$port" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT

for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/.well-known/spin/health" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
cat "$log"
echo "--- curl http://127.0.0.1:$port/"
curl -sS "http://127.0.0.1:$port/"
