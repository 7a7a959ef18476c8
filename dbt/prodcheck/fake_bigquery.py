"""A fake of the BigQuery REST API (v2), enough for dbt-bigquery to run a build.

It records the SQL of every query job and answers from a dbt manifest: every
model, seed, snapshot and source of the manifest exists as a table, with the
columns its YAML documents (types from `data_type`, STRING when none). Query
results are empty except for the queries dbt needs answered:

- a project macro's watermark (`... as watermark`): one DATE, `watermark`;
- the order dates of the carts a fact rebuilds (`select distinct order_date`):
  `order_dates`;
- data tests (`... as failures`): no failures;
- a PATCH of a table (descriptions, policy tags): recorded in `patches`;
- the empty-result queries of a contract check: the schema the query declares
  (`cast(null as T) as c`), or the model's documented columns.

Nothing is executed: the fake proves what dbt sends, not what BigQuery does.
"""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

# YAML data types (as both engines spell them) to BigQuery field types.
_FIELD_TYPES = {
    "bigint": "INTEGER",
    "int64": "INTEGER",
    "integer": "INTEGER",
    "string": "STRING",
    "numeric": "NUMERIC",
    "boolean": "BOOLEAN",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "float64": "FLOAT",
    "double": "FLOAT",
}

_NODE_ID = re.compile(r'"node_id":\s*"([^"]+)"')
_NULL_CAST = re.compile(r"cast\(null as ([a-z0-9_]+)\) as ([a-z0-9_]+)", re.IGNORECASE)


def _field(name, data_type):
    return {"name": name, "type": _FIELD_TYPES.get((data_type or "string").strip().lower(), "STRING"), "mode": "NULLABLE"}


class Catalog:
    """The tables of a dbt manifest, by project, dataset and name, and its nodes' columns."""

    def __init__(self, manifest):
        self.tables = {}  # (project, dataset, table) -> [field]
        self.views = set()  # (project, dataset, table) of the models materialized as views
        self.node_fields = {}  # unique_id -> [field]
        for kind in ("nodes", "sources"):
            for uid, node in manifest[kind].items():
                if node["resource_type"] not in ("model", "seed", "snapshot", "source"):
                    continue
                fields = [_field(c["name"], c.get("data_type")) for c in node["columns"].values()]
                name = node.get("alias") or node.get("identifier") or node["name"]
                self.tables[(node["database"], node["schema"], name)] = fields
                if node.get("config", {}).get("materialized") == "view":
                    self.views.add((node["database"], node["schema"], name))
                self.node_fields[uid] = fields

    def datasets(self, project):
        return sorted({d for p, d, _ in self.tables if p == project})

    def table(self, project, dataset, name):
        # dbt's temporary relations (x__dbt_tmp) have the model's columns.
        return self.tables.get((project, dataset, name.removesuffix("__dbt_tmp")))


class FakeBigQuery:
    """Serves the fake on 127.0.0.1; `queries` lists every query's SQL, in order."""

    def __init__(self, catalog, watermark, order_dates):
        self.catalog = catalog
        self.watermark = watermark
        self.order_dates = order_dates
        self.queries = []
        self.unknown = []  # requests the fake does not serve
        self.patches = []  # (dataset, table, body) of every PATCH of a table
        self._jobs = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._serve(self, "GET")

            def do_POST(self):
                fake._serve(self, "POST")

            def do_PATCH(self):
                fake._serve(self, "PATCH")

            def do_DELETE(self):
                fake._serve(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, req, method):
        length = int(req.headers.get("Content-Length") or 0)
        body = json.loads(req.rfile.read(length) or b"{}") if length else {}
        parts = urlparse(req.path).path.strip("/").split("/")
        if parts[:2] != ["bigquery", "v2"] or len(parts) < 4 or parts[2] != "projects":
            return self._reply(req, 404, {"error": {"code": 404, "message": f"no route {req.path}"}})
        project, rest = parts[3], parts[4:]
        status, payload = self._route(method, project, rest, body)
        if status == 404 and not (rest[:1] == ["datasets"] and method == "GET"):
            self.unknown.append(f"{method} {req.path}")
        self._reply(req, status, payload)

    def _route(self, method, project, rest, body):
        if rest == ["datasets"] and method == "GET":
            return 200, {"datasets": [self._dataset(project, d) for d in self.catalog.datasets(project)]}
        if rest == ["datasets"] and method == "POST":
            return 200, body
        if len(rest) == 2 and rest[0] == "datasets":
            return 200, self._dataset(project, rest[1])
        if len(rest) == 3 and rest[0] == "datasets" and rest[2] == "tables" and method == "GET":
            names = sorted(t for p, d, t in self.catalog.tables if (p, d) == (project, rest[1]))
            return 200, {"tables": [self._table(project, rest[1], n, brief=True) for n in names], "totalItems": len(names)}
        if len(rest) == 4 and rest[0] == "datasets" and rest[2] == "tables":
            if method == "DELETE":
                return 204, None
            if method == "PATCH":
                with self._lock:
                    self.patches.append((rest[1], rest[3], body))
                return 200, {**self._table(project, rest[1], rest[3]), **body}
            if self.catalog.table(project, rest[1], rest[3]) is None:
                return 404, {"error": {"code": 404, "message": f"Not found: Table {project}:{rest[1]}.{rest[3]}", "status": "NOT_FOUND"}}
            return 200, self._table(project, rest[1], rest[3])
        if rest == ["jobs"] and method == "POST":
            return 200, self._insert_job(project, body)
        if rest == ["queries"] and method == "POST":
            job = self._insert_job(project, {"configuration": {"query": {"query": body.get("query", "")}}})
            return 200, self._results(job["jobReference"]["jobId"])
        if len(rest) == 2 and rest[0] == "jobs" and method == "GET":
            return 200, self._jobs[rest[1]]["job"]
        if len(rest) == 3 and rest[0] == "jobs" and rest[2] == "cancel":
            return 200, {"job": self._jobs[rest[1]]["job"]}
        if len(rest) == 2 and rest[0] == "queries" and method == "GET":
            return 200, self._results(rest[1])
        return 404, {"error": {"code": 404, "message": "not served by the fake"}}

    @staticmethod
    def _reply(req, status, payload):
        data = b"" if payload is None else json.dumps(payload).encode()
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    @staticmethod
    def _dataset(project, dataset):
        ref = {"projectId": project, "datasetId": dataset}
        return {"kind": "bigquery#dataset", "id": f"{project}:{dataset}", "datasetReference": ref, "location": "US"}

    def _table(self, project, dataset, name, brief=False):
        ref = {"projectId": project, "datasetId": dataset, "tableId": name}
        kind = "VIEW" if (project, dataset, name) in self.catalog.views else "TABLE"
        table = {"kind": "bigquery#table", "id": f"{project}:{dataset}.{name}", "tableReference": ref, "type": kind}
        if not brief:
            table.update(schema={"fields": self.catalog.table(project, dataset, name)}, numRows="0", location="US")
        return table

    def _insert_job(self, project, body):
        sql = body.get("configuration", {}).get("query", {}).get("query", "")
        with self._lock:
            job_id = (body.get("jobReference") or {}).get("jobId") or f"job_{len(self._jobs)}"
            self.queries.append(sql)
            ref = {"projectId": project, "jobId": job_id, "location": "US"}
            job = {
                "kind": "bigquery#job",
                "id": f"{project}:US.{job_id}",
                "jobReference": ref,
                "configuration": {"jobType": "QUERY", "query": {"query": sql}},
                "status": {"state": "DONE"},
                "statistics": {"query": {"statementType": "SCRIPT", "totalBytesProcessed": "0"}},
            }
            self._jobs[job_id] = {"job": job, "result": self._answer(sql)}
        return job

    def _results(self, job_id):
        entry = self._jobs[job_id]
        fields, rows = entry["result"]
        return {
            "kind": "bigquery#getQueryResultsResponse",
            "jobReference": entry["job"]["jobReference"],
            "jobComplete": True,
            "schema": {"fields": fields},
            "rows": [{"f": [{"v": v} for v in row]} for row in rows],
            "totalRows": str(len(rows)),
        }

    def _answer(self, sql):
        """The schema and rows of a query's result."""
        text = sql.lower()
        if " as watermark" in text:
            return [_field("watermark", "date")], [[self.watermark.isoformat()]]
        if "select distinct order_date" in text:
            return [_field("order_date", "date")], [[d.isoformat()] for d in self.order_dates]
        if " as failures" in text:
            return [_field("failures", "bigint"), _field("should_warn", "boolean"), _field("should_error", "boolean")], [["0", "false", "false"]]
        if "__dbt_sbq" in text:
            node = _NODE_ID.search(sql)
            fields = self.catalog.node_fields.get(node.group(1), []) if node else []
            declared = _NULL_CAST.findall(sql)
            if declared and len(declared) == len(fields):
                fields = [_field(name, data_type) for data_type, name in declared]
            return fields, []
        return [], []
