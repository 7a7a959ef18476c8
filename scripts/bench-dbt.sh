#!/usr/bin/env bash
# Benchmarks the dbt project on synthetic raw data: a full build on N products,
# N users and M cart events, then an incremental build after 1% more events,
# side by side. Needs the project's .venv (make venv).
#   BENCH_PRODUCTS (default 100000)  BENCH_EVENTS (default 1000000)
# Prints each build's wall-clock time and where it went.
set -euo pipefail
cd "$(dirname "$0")/.."
products=${BENCH_PRODUCTS:-100000}
events=${BENCH_EVENTS:-1000000}
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "keeping $dir" || trap 'rm -rf "$dir"' EXIT
db="$dir/warehouse.duckdb"

# The raw tables as the Go warehouse creates them, from a small local run.
go run ./functions/local --dir "$dir" --port 0 > /dev/null

.venv/bin/python - "$db" "$products" "$events" <<'PY'
import sys, duckdb
db, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = duckdb.connect(db)
c.execute("delete from bq_raw.products; delete from bq_raw.users; delete from bq_raw.cart_events")
c.execute(f"""insert into bq_raw.products select i, 'Product ' || i, (100 + i % 9900) / 100.0, 'd', 'c' || (i % 4), '',
  {{'rate': (i % 50) / 10.0, 'count': i % 1000}}, date '2026-11-23', timestamp '2026-11-23 06:00:00', 'bench'
  from range(1, {n} + 1) t(i)""")
c.execute(f"""insert into bq_raw.users select i, 'user' || i || '@example.com', 'user' || i,
  {{'firstname': 'f', 'lastname': 'l'}}, '1-555', {{'city': 'city' || (i % 500), 'street': 's', 'number': i % 999,
  'zipcode': '1' || (i % 9999), 'geolocation': {{'lat': 1.5, 'long': 2.5}}}}, date '2026-11-23', timestamp '2026-11-23 06:00:00', 'bench'
  from range(1, {n} + 1) t(i)""")
# m events over m/2 carts: each cart is published twice (a first version and a
# change), one event every 2 seconds from 2026-10-01 (43,200 a day).
c.execute(f"""insert into bq_raw.cart_events select
  md5(i::varchar) || md5((i + 1)::varchar), 'cart.upserted', i % ({m} // 2) + 1, i % {n} + 1,
  timestamp '2020-01-01' + to_days(i % 900),
  [{{'product_id': (i * 7) % {n} + 1, 'quantity': i % 5 + 1}}, {{'product_id': (i * 13) % {n} + 1, 'quantity': 1}}],
  substr(md5(i::varchar), 1, 16), timestamp '2026-10-01' + to_seconds(i * 2), timestamp '2026-10-01' + to_seconds(i * 2),
  'm' || i, timestamp '2026-10-01' + to_seconds(i * 2)
  from range(0, {m}) t(i)""")
print(f"raw: {n} products, {n} users, {m} cart events")
PY

# build runs dbt build, prints on stderr dbt's summary and where the time went
# (dbt's own per-node timings, from run_results.json), and on stdout the
# wall-clock time.
build() {
  local start end
  start=$(date +%s.%N)
  (cd dbt && SHOPLAKE_DUCKDB_PATH="$db" ../.venv/bin/dbt build --no-use-colors "$@" --profiles-dir . \
      --target-path "$dir/target" --log-path "$dir/logs" | grep -E 'Done\. PASS' | sed 's/^.*Done/Done/' >&2)
  end=$(date +%s.%N)
  .venv/bin/python - "$dir/target/run_results.json" "$end - $start" >&2 <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = lambda kinds: sum(x["execution_time"] for x in r["results"] if x["unique_id"].split(".")[0] in kinds)
wall = eval(sys.argv[2])
print(f"  models+snapshots {t({'model', 'snapshot'}):.1f}s, data+unit tests {t({'test', 'unit_test'}):.1f}s (node time, 2 threads); "
      f"dbt elapsed {r['elapsed_time']:.1f}s; start-up and parsing {wall - r['elapsed_time']:.1f}s")
PY
  echo "$end - $start" | bc
}

echo "== full build (--full-refresh)"
full=$(build --full-refresh)

.venv/bin/python - "$db" "$events" <<'PY'
import sys, duckdb
db, m = sys.argv[1], int(sys.argv[2])
c = duckdb.connect(db)
k = m // 100
c.execute(f"""insert into bq_raw.cart_events select
  md5(('new' || i)::varchar) || md5(i::varchar), 'cart.upserted', i % ({m} // 2) + 1, 1,
  timestamp '2020-06-01', [{{'product_id': 1, 'quantity': 9}}], substr(md5(('new' || i)::varchar), 1, 16),
  timestamp '2026-10-01' + to_seconds({m} * 2 + i), timestamp '2026-10-01' + to_seconds({m} * 2 + i), 'n' || i,
  timestamp '2026-10-01' + to_seconds({m} * 2 + i)
  from range(0, {k}) t(i)""")
print(f"added {k} events (1%), published after the newest")
PY

# The same 1% twice, on copies of the warehouse: once with every test, once
# as the production job runs after a load (without the full-history tests,
# which its nightly run keeps; see dbt_project.yml).
cp "$db" "$dir/after-1pct.duckdb"
echo "== incremental build, every test"
inc=$(build)
cp "$dir/after-1pct.duckdb" "$db"
echo "== incremental build, routine (--exclude tag:full_history)"
routine=$(build --exclude tag:full_history)
ratio() { echo "$1 / $2" | bc -l; }
printf 'dbt build: full %.1fs; after 1%% new events: incremental %.1fs (%.1fx faster), routine incremental %.1fs (%.1fx faster)\n' \
  "$full" "$inc" "$(ratio "$full" "$inc")" "$routine" "$(ratio "$full" "$routine")"
