# dbsweep: `make demo` for a first look, `make test` for the whole check.
BIN := node_modules/.bin
BUN := $(BIN)/bun

SOURCES := $(shell find src -name '*.ts') package.json scripts/build.ts scripts/help-texts.ts

.PHONY: install system-deps build release node test typecheck lint format unit demo bench clean

install: node_modules/.installed

# npm runs scripts/patch-deps.mjs after installing (postinstall).
node_modules/.installed: package.json package-lock.json scripts/patch-deps.mjs
	npm ci --no-audit --no-fund
	touch $@

# The executable for this machine: version, commit, target and the recorded help defined in.
build: dist/dbsweep

dist/dbsweep: node_modules/.installed $(SOURCES)
	$(BUN) scripts/build.ts

# The CLI bundled for Node 20+: node dist/node/dbsweep.mjs <command> … (Deno runs src/deno.ts as it is).
node: dist/node/dbsweep.mjs

dist/node/dbsweep.mjs: node_modules/.installed $(SOURCES)
	$(BUN) scripts/build.ts --node

# Executables for linux-x64, linux-arm64, darwin-x64, darwin-arm64 and windows-x64, with SHA256SUMS.
release: dist/release/SHA256SUMS

dist/release/SHA256SUMS: node_modules/.installed $(SOURCES)
	$(BUN) scripts/build.ts --release

typecheck: install
	$(BIN)/tsc --noEmit -p .

lint: install
	$(BIN)/biome check src test bench scripts

format: install
	$(BIN)/biome check --write src test bench scripts

# Debian packages the tests need (PostgreSQL 15, Chromium, openssl): installed when root with apt,
# else named with the command to install them.
system-deps:
	@bash scripts/system-deps.sh

# Typecheck, format and lint, then every test (the binary and the release files are built first).
test: system-deps typecheck lint build release
	$(BUN) scripts/test.ts

unit: install
	$(BUN) test

demo: build
	$(BUN) scripts/demo.ts

bench: build
	$(BUN) bench/startup.ts
	$(BUN) bench/requests.ts
	$(BUN) bench/purge.ts
	$(BUN) bench/purge-many.ts
	$(BUN) bench/cleanup.ts
	$(BUN) bench/serve.ts
	$(BUN) bench/docs.ts
	$(BUN) bench/page.ts

clean:
	rm -rf dist
