#!/usr/bin/env bash
# Runs Shoplake's benchmarks and longer fuzzing, printing the figures.
#   SHOPLAKE_BENCH_RECORDS  products in the ingest benchmark (default 1000000)
#   SHOPLAKE_BENCH_ORDERS   Shopify orders in one PollCarts poll (default 100000)
#   SHOPLAKE_BENCH_EVENTS   records per entity in the local end-to-end run (default 200000)
#   SHOPLAKE_CRASH_SCALE    records per entity of the crash suite (default 100000)
#   SHOPIFY_BENCH_PRODUCTS, SHOPIFY_BENCH_CUSTOMERS, SHOPIFY_BENCH_ORDERS
#                           the Shopify adapter benchmark's sizes (100000, 100000, 1000000)
#   WOOCOMMERCE_BENCH_PRODUCTS, WOOCOMMERCE_BENCH_CUSTOMERS, WOOCOMMERCE_BENCH_ORDERS
#                           the WooCommerce adapter benchmark's sizes (the same)
#   FUZZTIME                time per fuzz target (default 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

echo "== IngestBatch: ${SHOPLAKE_BENCH_RECORDS:-1000000} synthetic products into the lake"
go test -run '^$' -bench BenchmarkIngestProducts -benchtime 1x -timeout 30m ./functions/ingestbatch/ 2>&1 \
  | grep -E '^(ingest|Benchmark)'

echo "== PollCarts: fingerprint+diff and state at ${SHOPLAKE_BENCH_CARTS:-1000000} carts"
go test -run '^$' -bench BenchmarkFingerprintDiff -benchtime 3x ./functions/pollcarts/ 2>&1 | grep -E '^poll state' | tail -n 2

echo "== PollCarts: one poll of ${SHOPLAKE_BENCH_ORDERS:-100000} Shopify orders updated since its cursor, against the stand-in"
go test -run '^$' -bench BenchmarkStoreOrderPoll -benchtime 1x -timeout 30m ./functions/pollcarts/ 2>&1 | grep -E '^store order poll'

echo "== StreamCartEvents: batch messages of 1,000 events, null warehouse and DuckDB"
go test -run '^$' -bench BenchmarkHandleBatch -benchtime 50x ./functions/streamcartevents/ 2>&1 | grep -E '^StreamCartEvents'

echo "== Shopify adapter against its stand-in: ${SHOPIFY_BENCH_PRODUCTS:-100000} products (2 variants each), ${SHOPIFY_BENCH_CUSTOMERS:-100000} customers, ${SHOPIFY_BENCH_ORDERS:-1000000} orders (3 lines each), paged and bulk, at a tenth and in full"
go test -run '^$' -bench BenchmarkAdapter -benchtime 1x -timeout 30m ./shared/source/shopify/ 2>&1 | grep -E '^Benchmark'

echo "== WooCommerce adapter against its stand-in: ${WOOCOMMERCE_BENCH_PRODUCTS:-100000} products, ${WOOCOMMERCE_BENCH_CUSTOMERS:-100000} customers, ${WOOCOMMERCE_BENCH_ORDERS:-1000000} orders (3 lines each), at a tenth and in full"
go test -run '^$' -bench BenchmarkAdapter -benchtime 1x -timeout 30m ./shared/source/woocommerce/ 2>&1 | grep -E '^Benchmark'

events=${SHOPLAKE_BENCH_EVENTS:-200000}
echo "== local stack end to end: $events synthetic records per entity, carts polled, published, pushed and stored, marts built"
make --no-print-directory venv >/dev/null
go build -o bin/shoplake-local ./functions/local
dir=$(mktemp -d)
# The runner prints each phase's time and its peak memory (the "phases" line).
./bin/shoplake-local --dbt .venv/bin/dbt --dir "$dir" --port 0 --scale "$events" 2>&1 | grep -E 'events/s|^marts|^phases|^Done'
rm -rf "$dir"

stream=${SHOPLAKE_BENCH_STREAM:-1000000}
echo "== local stream: $stream synthetic carts from poll to warehouse (no dbt)"
dir=$(mktemp -d)
./bin/shoplake-local --dir "$dir" --port 0 --scale "$stream" 2>&1 | grep -E 'events/s|^phases'
rm -rf "$dir"

crash=${SHOPLAKE_CRASH_SCALE:-100000}
echo "== runs converge at --scale $crash: SIGKILL at each phase, rerun, marts equal a clean run's"
SHOPLAKE_CRASH_SCALE=$crash SHOPLAKE_DBT=$PWD/.venv/bin/dbt go test -count=1 -v -timeout 90m \
  -run '^TestRunsConvergeAfterACrashAtEachPhase$' ./functions/local 2>&1 | grep -E '^\s*(---|ok|FAIL|PASS)'

echo "== dbt build: ${BENCH_PRODUCTS:-100000} products and users, ${BENCH_EVENTS:-1000000} cart events; full, then incremental after 1% new events"
./scripts/bench-dbt.sh 2>&1 | grep -E '^(raw:|dbt build:)'

for target in \
  "FuzzCanonical ./shared/model/" \
  "FuzzSplitter ./shared/source/" \
  "FuzzDecode ./shared/source/" \
  "FuzzDecodeEvent ./functions/loadrawobject/" \
  "FuzzDecode ./shared/state/" \
  "FuzzHandle ./functions/streamcartevents/" \
  "FuzzDecodePush ./shared/events/" \
  "FuzzObserve ./shared/drift/" \
  "FuzzParse ./shared/money/"; do
  set -- $target
  echo "== fuzz $1 for $fuzztime"
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2" 2>&1 | tail -n 2
done
