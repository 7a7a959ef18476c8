# Shoplake: `make run` runs the pipeline locally, `make test` runs every check.
# Both set up what they need on first use (Go modules are fetched by go).

GO       ?= go
ARGS     ?=
BIN      := bin
GOFLAGS  ?= -buildvcs=false
PYTHON   ?= python3
VENV     := .venv
export GOFLAGS
# The Go release everything is built and tested with, fetched through the Go
# module proxy on first use when the installed go is another one (machines
# whose go.env says GOTOOLCHAIN=local would otherwise keep an unpatched
# standard library). Keep it equal to go.mod's toolchain line.
GOTOOLCHAIN ?= go1.26.11+auto
export GOTOOLCHAIN

.PHONY: run report metrics test vet vulncheck fmt-check lint-sql lint-deploy unit-python unit bench clean help venv docs package

help:
	@echo "make run [ARGS='--scale 100000 --port 0']  run the pipeline locally (see README)"
	@echo "make report                                draw the run report (.local/report.html) again and open it"
	@echo "make metrics ARGS=\"--metrics revenue\"      query the semantic layer on the local warehouse (mf query)"
	@echo "make test                                  vet, format check and every test"
	@echo "make package                               the functions' source archive for terraform apply"
	@echo "make bench                                 benchmarks and longer fuzzing"
	@echo "make vulncheck                             govulncheck, against a database built offline from golang.org/x/vulndb"
	@echo "make docs                                  dbt docs for the local warehouse, served on http://127.0.0.1:8081"
	@echo "make clean                                 remove .local/, bin/ and .venv/"

$(BIN)/shoplake-local: FORCE
	@mkdir -p $(BIN)
	@$(GO) build -o $@ ./functions/local

run: $(BIN)/shoplake-local venv
	@./$(BIN)/shoplake-local --dbt $(VENV)/bin/dbt $(ARGS)

# Every run draws .local/report.html; this draws it again from the kept runs
# and opens it in the desktop's browser, or says where it is.
report: $(BIN)/shoplake-local
	@./$(BIN)/shoplake-local --report
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && command -v xdg-open >/dev/null 2>&1; then xdg-open .local/report.html; \
	else echo "open file://$(CURDIR)/.local/report.html in a browser"; fi

# The semantic layer's metrics on the local warehouse: ARGS go to mf query
# (default: every metric, by month).
metrics: venv
	@./scripts/metrics.sh $(or $(ARGS),--metrics revenue,orders,average_order_value,items_per_order,customers,units --group-by metric_time__month)

# The project's Python tools, from the pinned requirements file, every
# package constrained to the version requirements.lock pins. The install shows
# progress (scripts/venv-progress.py); pip's whole output goes to .venv/pip.log.
LOCKED := $(shell grep -vc '^\#' requirements.lock)
$(VENV)/.installed: requirements.txt requirements.lock
	@echo "setting up $(VENV)/ from requirements.txt (once; $(LOCKED) packages, a minute or two)"
	$(PYTHON) -m venv $(VENV)
	@bash -o pipefail -c '$(VENV)/bin/pip install --disable-pip-version-check --progress-bar off -r requirements.txt -c requirements.lock 2>&1 | $(PYTHON) scripts/venv-progress.py $(LOCKED) $(VENV)/pip.log'
	@touch $@

venv: $(VENV)/.installed

test: fmt-check vet vulncheck venv lint-sql lint-deploy unit-python unit

# The dbt models, linted as the BigQuery SQL they compile to (see dbt/.sqlfluff).
lint-sql: venv
	cd dbt && ../$(VENV)/bin/sqlfluff lint models tests/assert_*.sql

CHECKOV := BC_SKIP_MAPPING=TRUE $(VENV)/bin/checkov --quiet --compact --skip-download

# Terraform format and checkov over terraform/ and the dbt image (offline:
# no provider plugin is needed; BC_SKIP_MAPPING keeps checkov off the network).
# Any skipped check is written next to its resource with the reason.
lint-deploy: venv
	terraform fmt -check -recursive -diff terraform
	$(CHECKOV) --framework terraform -d terraform
	$(CHECKOV) --framework dockerfile -f dbt/Dockerfile

# The functions' source archive that Terraform uploads (dist/functions-source.zip).
package:
	$(GO) run ./scripts/package-functions -o dist/functions-source.zip

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.local/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# govulncheck against a vulnerability database built from the golang.org/x/vulndb
# module's OSV files with its own indexdb command: everything comes through
# the Go module proxy, pinned here, so the result is the same on every machine
# until the pins move. Built once (about two minutes) under .local/.
VULNDB_VERSION      := v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION := v1.9.0
VULNDB              := .local/vulndb/$(VULNDB_VERSION)

$(VULNDB)/index/db.json:
	@echo "building the vulnerability database from golang.org/x/vulndb@$(VULNDB_VERSION) (once, about two minutes)"
	@rm -rf $(VULNDB).tmp && mkdir -p $(dir $(VULNDB))
	@dir=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$dir/data/osv" -out $(VULNDB).tmp
	@mv $(VULNDB).tmp $(VULNDB)

vulncheck: $(VULNDB)/index/db.json
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db file://$(CURDIR)/$(VULNDB) ./...

# The dbt job's lock protocol (dbt/runner), on an in-memory store; and the
# routine production dbt build run against a fake BigQuery API, whose SQL must
# prune cart events by partition (dbt/prodcheck).
unit-python: venv
	cd dbt/runner && ../../$(VENV)/bin/python -m unittest -q
	cd dbt/prodcheck && ../../$(VENV)/bin/python -m unittest -q

# The run report is drawn in Debian's chromium by a test; without it that
# test is skipped, and this says so before and after the tests.
NO_CHROMIUM := command -v chromium >/dev/null 2>&1 || printf '\n%s\n%s\n\n' \
	"!!! chromium is not installed: the browser test of the run report (TestReportShowsEveryRunAndDrift) is SKIPPED" \
	"!!! .ci/run installs it on a fresh machine; here: apt-get install chromium"

# First every package under the race detector, with -short: that skips the
# local runner's end-to-end runs (DuckDB and dbt, several times slower
# instrumented) and the root's and terraform's builds of the deployed code.
# Then the packages that hold those tests, uninstrumented and in full.
TEST_ENV := SHOPLAKE_PYTHON=$(CURDIR)/$(VENV)/bin/python SHOPLAKE_DBT=$(CURDIR)/$(VENV)/bin/dbt

unit:
	@$(NO_CHROMIUM)
	$(TEST_ENV) $(GO) test -race -short -count=1 -timeout 20m ./...
	$(TEST_ENV) $(GO) test -count=1 -timeout 20m . ./functions/local ./terraform
	@$(NO_CHROMIUM)

bench:
	./scripts/bench.sh

DBT_LOCAL := cd dbt && SHOPLAKE_DUCKDB_PATH=$(CURDIR)/.local/warehouse.duckdb $(CURDIR)/$(VENV)/bin/dbt
DBT_PATHS := --profiles-dir . --target-path $(CURDIR)/.local/dbt/target --log-path $(CURDIR)/.local/dbt/logs

# dbt's documentation site for the local warehouse (run `make run` first).
docs: venv
	@test -f .local/warehouse.duckdb || { echo "no local warehouse yet: run make run first"; exit 1; }
	$(DBT_LOCAL) docs generate $(DBT_PATHS)
	$(DBT_LOCAL) docs serve $(DBT_PATHS) --host 127.0.0.1 --port 8081 --no-browser

clean:
	rm -rf .local $(BIN) $(VENV)

FORCE:
