# dbsweep: `make demo` for a first look, `make test` for the whole check.
BIN := node_modules/.bin
BUN := $(BIN)/bun
VERSION := $(shell node -p "require('./package.json').version")

.PHONY: install build test typecheck lint format unit demo bench clean

install: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

build: dist/dbsweep

dist/dbsweep: install $(shell find src -name '*.ts') package.json
	@mkdir -p dist
	$(BUN) build src/main.ts --compile --minify --bytecode \
	  --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
	  --define DBSWEEP_VERSION='"$(VERSION)"' --outfile dist/dbsweep

typecheck: install
	$(BIN)/tsc --noEmit -p .

lint: install
	$(BIN)/biome check src test bench scripts

format: install
	$(BIN)/biome check --write src test bench scripts

# Typecheck, format and lint, then every test (the binary is built first: tests run it).
test: typecheck lint build
	$(BUN) scripts/test.ts

unit: install
	$(BUN) test

demo: build
	$(BUN) scripts/demo.ts

bench: build
	$(BUN) bench/purge.ts
	$(BUN) bench/cleanup.ts
	$(BUN) bench/serve.ts
	$(BUN) bench/docs.ts
	$(BUN) bench/page.ts

clean:
	rm -rf dist
