#!/usr/bin/env bash
# Queries the semantic layer (MetricFlow) on the local warehouse that
# `make run` built: every argument goes to `mf query`, for example
#   scripts/metrics.sh --metrics revenue,orders --group-by metric_time__month
# mf reads the semantic manifest from target/ under a directory holding the
# dbt project file; the run wrote it to .local/dbt/target, so the query runs
# in .local/metrics, which holds both.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
manifest=.local/dbt/target/semantic_manifest.json
if [ ! -f "$manifest" ] || [ ! -f .local/warehouse.duckdb ]; then
  echo "no local warehouse with its semantic manifest yet: run make run first" >&2
  exit 1
fi
mkdir -p .local/metrics/target
cp dbt/dbt_project.yml .local/metrics/
cp "$manifest" .local/metrics/target/
cd .local/metrics
DBT_PROFILES_DIR="$root/dbt" SHOPLAKE_DUCKDB_PATH="$root/.local/warehouse.duckdb" exec "$root/.venv/bin/mf" query "$@"
