#!/usr/bin/env bash
# Runs Shoplake's benchmarks and longer fuzzing, printing the figures.
#   SHOPLAKE_BENCH_RECORDS  products in the ingest benchmark (default 1000000)
#   FUZZTIME                time per fuzz target (default 60s)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}

echo "== IngestBatch: ${SHOPLAKE_BENCH_RECORDS:-1000000} synthetic products into the lake"
go test -run '^$' -bench BenchmarkIngestProducts -benchtime 1x -timeout 30m ./functions/ingestbatch/ 2>&1 \
  | grep -E '^(ingest:|Benchmark)'

for target in \
  "FuzzCanonical ./shared/model/" \
  "FuzzSplitter ./shared/source/" \
  "FuzzDecodeEvent ./functions/loadrawobject/"; do
  set -- $target
  echo "== fuzz $1 for $fuzztime"
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" "$2" 2>&1 | tail -n 2
done
