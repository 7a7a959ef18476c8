"""The routine production dbt run reads and merges cart events by partition.

dbt runs the routine job's command (terraform/transform.tf) on the `prod`
target, with dbt-bigquery, against a fake of the BigQuery REST API
(fake_bigquery.py) on which every table already exists, so every model is
incremental. The test then reads the SQL dbt sent: every read of the cart
events (raw `cart_events` and `stg_cart_events`) must filter on the table's
partition column with a constant (BigQuery prunes only on constants or
script variables), and every merge into a partitioned table must limit the
destination to the partitions it rewrites. This proves partition pruning
offline, from the SQL BigQuery would receive. The same fake sees dbt tag the
personal columns, and MetricFlow compile every metric for BigQuery.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from fake_bigquery import Catalog, FakeBigQuery

DBT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(DBT_DIR)
DBT = os.path.join(os.path.dirname(sys.executable), "dbt")
PROJECT = "test-project"

# The policy tag of personal columns, as Terraform passes it to the job.
POLICY_TAG = f"projects/{PROJECT}/locations/us/taxonomies/1/policyTags/2"
# The semantic layer's metrics (models/marts/_marts__semantic_models.yml).
METRICS = ["revenue", "units", "orders", "customers", "average_order_value", "items_per_order", "new_customers",
           "returning_customers", "cart_sessions", "ordered_cart_sessions", "cart_to_order_conversion", "abandoned_cart_value"]
# A dashboard's date range, as the semantic layer is asked for it.
DASHBOARD_RANGE = ("2026-11-01", "2026-11-30")
PERSONAL_COLUMNS = {"email_hash", "city", "zipcode", "latitude", "longitude"}

# What the fake answers: the newest day every model holds, and the order
# dates of the carts the facts rebuild.
WATERMARK = datetime.date(2026, 11, 25)
LOOKBACK_START = "2026-11-22"  # WATERMARK - lookback_days (dbt_project.yml)
ORDER_DATES = [datetime.date(2020, 3, 2), datetime.date(2021, 7, 4)]

PROFILE = """
shoplake:
  target: prod
  outputs:
    prod:
      type: bigquery
      method: oauth-secrets
      token: not-a-real-token
      project: {project}
      dataset: bq_staging
      location: US
      threads: 1
      job_retries: 0
      job_execution_timeout_seconds: 30
      api_endpoint: "{{{{ env_var('FAKE_BIGQUERY_ENDPOINT', 'http://127.0.0.1:9') }}}}"
"""


def routine_args():
    """The routine dbt job's arguments, as terraform/transform.tf sets them."""
    with open(os.path.join(REPO, "terraform", "transform.tf")) as f:
        m = re.search(r"dbt_routine_args\s*=\s*(\[[^\]]*\])", f.read())
    return json.loads(m.group(1))


def normalize(sql):
    """Lower case, one space between tokens, no quoting backticks."""
    return re.sub(r"\s+", " ", sql.replace("`", "")).lower()


class RoutineRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        with open(os.path.join(cls.tmp.name, "profiles.yml"), "w") as f:
            f.write(PROFILE.format(project=PROJECT))
        paths = ["--profiles-dir", cls.tmp.name, "--target-path", os.path.join(cls.tmp.name, "target"),
                 "--log-path", os.path.join(cls.tmp.name, "logs")]
        cls.dbt(["parse", *paths])
        with open(os.path.join(cls.tmp.name, "target", "manifest.json")) as f:
            catalog = Catalog(json.load(f))
        args = routine_args()
        # The nodes that read cart events: the raw source and everything downstream.
        args += ["--select", "source:bq_raw.cart_events+", *paths]
        with FakeBigQuery(catalog, WATERMARK, ORDER_DATES) as fake:
            cls.metrics_sql = cls.explain_metrics(fake.endpoint, "--metrics", ",".join(METRICS), "--group-by", "metric_time__month")
            cls.dashboard_metrics_sql = cls.explain_metrics(
                fake.endpoint, "--metrics", "revenue,units", "--group-by", "metric_time__day,product__product_category",
                "--start-time", DASHBOARD_RANGE[0], "--end-time", DASHBOARD_RANGE[1])
            cls.dbt(["compile", "--select", "dashboard_sales_by_category", *paths], FAKE_BIGQUERY_ENDPOINT=fake.endpoint)
            with open(os.path.join(cls.tmp.name, "target", "compiled", "shoplake", "analyses", "dashboard_sales_by_category.sql")) as f:
                cls.dashboard_sql = normalize(f.read())
            fake.queries.clear()
            cls.output = cls.dbt(args, FAKE_BIGQUERY_ENDPOINT=fake.endpoint)
        cls.queries = [normalize(q) for q in fake.queries]
        cls.unknown = fake.unknown
        cls.patches = fake.patches

    @classmethod
    def explain_metrics(cls, endpoint, *query):
        """The BigQuery SQL MetricFlow writes for the mf query arguments
        query, from the semantic manifest of the prod parse: mf reads it
        from target/ under a directory holding the project file."""
        shadow = os.path.join(cls.tmp.name, "metrics")
        os.makedirs(os.path.join(shadow, "target"), exist_ok=True)
        shutil.copy(os.path.join(DBT_DIR, "dbt_project.yml"), shadow)
        shutil.copy(os.path.join(cls.tmp.name, "target", "semantic_manifest.json"), os.path.join(shadow, "target"))
        mf = os.path.join(os.path.dirname(sys.executable), "mf")
        run = subprocess.run([mf, "query", "--explain", *query],
                             cwd=shadow, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "DBT_PROFILES_DIR": cls.tmp.name, "FAKE_BIGQUERY_ENDPOINT": endpoint,
                                  "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
        if run.returncode != 0:
            raise AssertionError(f"mf query --explain failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-3000:]}")
        return run.stdout

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def dbt(cls, args, **env):
        env = {**os.environ, "SHOPLAKE_PERSONAL_POLICY_TAG": POLICY_TAG, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        run = subprocess.run([DBT, "--no-use-colors", *args], cwd=DBT_DIR, capture_output=True, text=True, env=env, timeout=600)
        if run.returncode != 0:
            raise AssertionError(f"dbt {' '.join(args[:1])} failed ({run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}")
        return run.stdout

    def relation(self, dataset, table):
        return f"{PROJECT}.{dataset}.{table}"

    def reads(self, relation):
        """(query, text after the relation) for every read of relation."""
        return [(q, after[:160].strip()) for q in self.queries for after in self.reads_in(q, relation)]

    def merges(self, relation):
        return [q[q.index("merge into " + relation + " "):] for q in self.queries if "merge into " + relation + " " in q]

    def test_the_run_builds_every_node_incrementally(self):
        self.assertEqual(self.unknown, [], "requests the fake does not serve")
        for model in ("stg_cart_events", "int_carts_latest", "fact_orders", "fact_order_items", "fact_daily_product_sales",
                      "fact_cart_sessions"):
            self.assertRegex(self.output, rf"OK created sql incremental model \w+\.{model}\b")
        self.assertRegex(self.output, r"Done\. PASS=\d+ WARN=0 ERROR=0")

    def test_personal_columns_carry_the_policy_tag(self):
        """dbt tags dim_users' personal columns, and only those, with the
        policy tag Terraform names, each time it builds the table."""
        schemas = [body["schema"]["fields"] for dataset, table, body in self.patches
                   if (dataset, table) == ("bq_analytics", "dim_users") and "schema" in body]
        self.assertEqual(len(schemas), 1, "dim_users' columns are updated once")
        tagged = {f["name"] for f in schemas[0] if f.get("policyTags", {}).get("names")}
        self.assertEqual(tagged, PERSONAL_COLUMNS)
        for field in schemas[0]:
            if field["name"] in PERSONAL_COLUMNS:
                self.assertEqual(field["policyTags"]["names"], [POLICY_TAG], field["name"])
        facts = [body for dataset, table, body in self.patches if table == "fact_orders" and "schema" in body]
        self.assertTrue(facts, "fact_orders' column descriptions are persisted")
        self.assertFalse([f for f in facts[0]["schema"]["fields"] if f.get("policyTags", {}).get("names")],
                         "fact_orders has no personal column")

    def test_metrics_compile_for_bigquery(self):
        """Every metric of the semantic layer compiles to BigQuery SQL on the
        marts of the prod datasets."""
        sql = self.metrics_sql
        for relation in ("bq_analytics.fact_order_items", "bq_analytics.fact_orders"):
            self.assertIn(f"{PROJECT}.{relation}", sql.replace("`", ""))
        self.assertRegex(sql, r"DATETIME_TRUNC\(|DATE_TRUNC\(|TIMESTAMP_TRUNC\(", "BigQuery's truncation by month")
        for metric in METRICS:
            self.assertRegex(sql, rf"\bAS {metric}\b", metric)

    def test_a_date_bounded_dashboard_reads_only_its_partitions(self):
        """The largest fact, fact_order_items, and fact_orders are built
        partitioned by order_date; a dashboard's query bounded by dates
        (a Looker Studio custom query, analyses/dashboard_sales_by_category)
        filters both on that column with constant parameters; and the
        semantic layer asked for a date range bounds the read of
        fact_order_items by constants on order_date too."""
        for fact in ("fact_order_items", "fact_orders", "fact_daily_product_sales"):
            with self.subTest(fact):
                builds = [q for q in self.queries if f'"node_id": "model.shoplake.{fact}"' in q and "create or replace table" in q]
                self.assertTrue(builds, f"no build of {fact}")
                self.assertIn("partition by order_date", builds[0])
        bounded = "where order_date between parse_date('%y%m%d', @ds_start_date) and parse_date('%y%m%d', @ds_end_date)"
        for fact in ("fact_order_items", "fact_orders"):
            with self.subTest(f"dashboard read of {fact}"):
                reads = self.reads_in(self.dashboard_sql, self.relation("bq_analytics", fact))
                self.assertEqual(len(reads), 1, self.dashboard_sql)
                self.assertTrue(reads[0].lstrip().startswith(bounded), reads[0][:200])
        sql = normalize(self.dashboard_metrics_sql)
        reads = self.reads_in(sql, self.relation("bq_analytics", "fact_order_items"))
        self.assertEqual(len(reads), 1, sql)
        start, end = DASHBOARD_RANGE
        self.assertRegex(reads[0][:200], rf"^ \w+ where \w+\(order_date, day\) between '{start}' and '{end}'",
                         "the semantic layer's date range bounds the fact's partition column")

    def test_every_read_of_cart_events_filters_on_the_partition_column(self):
        cases = [
            ("raw cart_events", self.relation("bq_raw", "cart_events"), rf"where published_at >= timestamp '{LOOKBACK_START}'"),
            ("stg_cart_events", self.relation("bq_staging", "stg_cart_events"), rf"where published_date >= date '{LOOKBACK_START}'"),
        ]
        for name, relation, want in cases:
            with self.subTest(name):
                reads = self.reads(relation)
                self.assertTrue(reads, f"no query reads {relation}")
                for query, after in reads:
                    self.assertRegex(after, "^(as \\w+ )?" + want, f"an unpruned read of {relation} in:\n{query}")

    def test_watermarks_do_not_scan_cart_events(self):
        watermarks = [q for q in self.queries if " as watermark" in q]
        stg = [q for q in watermarks if '"node_id": "model.shoplake.stg_cart_events"' in q]
        self.assertEqual(len(stg), 1)
        self.assertIn(f"from {PROJECT}.bq_staging.information_schema.partitions where table_name = 'stg_cart_events'", stg[0],
                      "stg_cart_events' newest day comes from its partition metadata")
        # The other models' watermarks read the model itself (one column).
        for query in watermarks:
            self.assertNotRegex(query, r"from [\w.-]+\.(stg_)?cart_events\b")

    def test_stg_cart_events_replaces_only_the_partitions_it_rebuilt(self):
        merges = self.merges(self.relation("bq_staging", "stg_cart_events"))
        self.assertEqual(len(merges), 1)
        self.assertIn("on false when not matched by source and date(dbt_internal_dest.published_date) in unnest(dbt_partitions_for_replacement) "
                      "then delete when not matched then insert", merges[0])
        script = next(q for q in self.queries if merges[0] in q)
        self.assertRegex(script, r"declare dbt_partitions_for_replacement array<date>; .*"
                         r"set \(dbt_partitions_for_replacement\) = \( select as struct .*array_agg\(distinct date\(published_date\) ignore nulls\) "
                         + re.escape(f"from {PROJECT}.bq_staging.stg_cart_events__dbt_tmp"))

    def test_fact_merges_touch_only_the_order_dates_of_their_carts(self):
        dates = ", ".join(f"date '{d.isoformat()}'" for d in ORDER_DATES)
        for fact in ("fact_orders", "fact_order_items", "fact_daily_product_sales"):
            with self.subTest(fact):
                merges = self.merges(self.relation("bq_analytics", fact))
                self.assertEqual(len(merges), 1)
                self.assertIn(f"on (dbt_internal_dest.order_date in ({dates})) and (", merges[0])

    def test_the_facts_read_only_the_order_dates_of_their_carts(self):
        # fact_orders sums its carts' lines from fact_order_items; fact_order_items
        # reads its own rows of those carts to mark the lines they lost.
        dates = ", ".join(f"date '{d.isoformat()}'" for d in ORDER_DATES)
        for model, read in (("fact_orders", "fact_order_items"), ("fact_order_items", "fact_order_items"),
                            ("fact_daily_product_sales", "fact_order_items"), ("fact_daily_product_sales", "fact_orders"),
                            ("fact_daily_product_sales", "fact_daily_product_sales")):
            with self.subTest(model):
                builds = [q for q in self.queries if f'"node_id": "model.shoplake.{model}"' in q and "create or replace table" in q]
                self.assertEqual(len(builds), 1)
                reads = self.reads_in(builds[0], self.relation("bq_analytics", read))
                self.assertEqual(len(reads), 1)
                # The read's own where clause, after its alias and joins: the
                # first where before the " )" that closes its query (a list of
                # date literals closes with "')").
                where = re.match(r"(?:(?! \)).)*?\bwhere (.*?) \)", reads[0])
                self.assertIsNotNone(where, f"an unfiltered read of {read}: {reads[0][:200]}")
                self.assertIn(f"order_date in ({dates})", where.group(1))

    def reads_in(self, query, relation):
        pattern = re.compile(r"(?:from|join) " + re.escape(relation) + r"(?![\w.])")
        return [query[m.end():] for m in pattern.finditer(query)]


if __name__ == "__main__":
    unittest.main()
