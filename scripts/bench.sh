#!/usr/bin/env bash
# Runs Shoplake's benchmarks and longer fuzzing, printing the figures.
#   SHOPLAKE_BENCH_RECORDS  products in the ingest benchmark (default 1000000)
#   FUZZTIME                time per fuzz target (default 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

echo "== IngestBatch: ${SHOPLAKE_BENCH_RECORDS:-1000000} synthetic products into the lake"
go test -run '^$' -bench BenchmarkIngestProducts -benchtime 1x -timeout 30m ./functions/ingestbatch/ 2>&1 \
  | grep -E '^(ingest|Benchmark)'

echo "== PollCarts: fingerprint+diff and state at ${SHOPLAKE_BENCH_CARTS:-1000000} carts"
go test -run '^$' -bench BenchmarkFingerprintDiff -benchtime 3x ./functions/pollcarts/ 2>&1 | grep -E '^poll state' | tail -n 2

echo "== StreamCartEvents: grouped insert vs one row per insert, 100 concurrent deliveries"
go test -run '^$' -bench BenchmarkGroupedInsert -benchtime 1x ./functions/streamcartevents/ 2>&1 | grep -E '^insert'

events=${SHOPLAKE_BENCH_EVENTS:-20000}
echo "== local stack end to end: $events synthetic carts polled, published, pushed and stored"
dir=$(mktemp -d)
go run ./functions/local --dir "$dir" --port 0 --scale "$events" | grep -E 'events/s'
rm -rf "$dir"

echo "== dbt build: ${BENCH_PRODUCTS:-100000} products and users, ${BENCH_EVENTS:-1000000} cart events; full, then incremental after 1% new events"
./scripts/bench-dbt.sh 2>&1 | grep -E '^(raw:|dbt build:)'

for target in \
  "FuzzCanonical ./shared/model/" \
  "FuzzSplitter ./shared/source/" \
  "FuzzDecodeEvent ./functions/loadrawobject/" \
  "FuzzDecode ./shared/state/" \
  "FuzzHandle ./functions/streamcartevents/" \
  "FuzzDecodePush ./shared/events/"; do
  set -- $target
  echo "== fuzz $1 for $fuzztime"
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2" 2>&1 | tail -n 2
done
