# Shoplake: `make run` runs the pipeline locally, `make test` runs every check.
# Both set up what they need on first use (Go modules are fetched by go).

GO       ?= go
ARGS     ?=
BIN      := bin
GOFLAGS  ?= -buildvcs=false
export GOFLAGS

.PHONY: run test vet fmt-check unit bench fuzz clean help

help:
	@echo "make run [ARGS='--scale 100000 --port 0']  run the pipeline locally (see README)"
	@echo "make test                                  vet, format check and every test"
	@echo "make bench                                 benchmarks and longer fuzzing"
	@echo "make clean                                 remove .local/ and bin/"

$(BIN)/shoplake-local: FORCE
	@mkdir -p $(BIN)
	@$(GO) build -o $@ ./functions/local

run: $(BIN)/shoplake-local
	@./$(BIN)/shoplake-local $(ARGS)

test: fmt-check vet unit

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.local/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 20m ./...

bench:
	./scripts/bench.sh

clean:
	rm -rf .local $(BIN)

FORCE:
