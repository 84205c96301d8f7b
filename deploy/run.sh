#!/usr/bin/env bash
# Start one worker in the background, show a demo batch flowing through it, then follow its log.
# Ctrl+C stops the worker (the broker and the ClickHouse server keep running: `make kafka-stop`,
# `make clickhouse-stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
var="${MCU_VAR_DIR:-var}"
mkdir -p "$var"
export MCU_INGEST_TOKEN="${MCU_INGEST_TOKEN:-local-dev-token}"
# A local demo on synthetic messages: the built-in pseudonym key is allowed (the worker warns).
# Production refuses it, so anything deployed sets MCU_AUTHOR_HMAC_KEY (compose, k8s do).
export MCU_ENV="${MCU_ENV:-development}"
port="${MCU_WEB_PORT:-6066}"

mcu worker > "$var/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT INT TERM

echo "worker pid $worker, log $var/worker.log; waiting for http://127.0.0.1:$port/health ..."
for _ in $(seq 1 120); do
  if curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $worker 2>/dev/null; then echo "worker exited:"; tail -40 "$var/worker.log"; exit 1; fi
  sleep 1
done

mcu demo --watch 20
cat <<MSG

The worker keeps running. Send your own message:
  curl -s -X POST http://127.0.0.1:$port/ingest/webform \\
       -H "Authorization: Bearer $MCU_INGEST_TOKEN" -H 'Content-Type: application/json' \\
       -d '{"id": "my-1", "text": "В Джубге нет воды на улице Советской"}'
  mcu counts        # rows in ClickHouse as analysts see them (straight from the server)
  mcu dlq show      # dead letters with reasons
Analysts connect to ClickHouse while it runs: http://127.0.0.1:${MCU_CLICKHOUSE_HTTP_PORT:-8123}
(native 127.0.0.1:${MCU_CLICKHOUSE_TCP_PORT:-9000}), database mcu; see docs/analytics.md.
Following the worker log (Ctrl+C stops the worker):
MSG
tail -n 0 -f "$var/worker.log" &
wait $worker
