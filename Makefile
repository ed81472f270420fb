# clawd — `make up` runs the product, `make test` runs the tests.

GO           ?= go
BIN          := bin/clawd
DATADIR      ?= /var/lib/clawd
ROUTER_ADDR  ?= :8080
API_ADDR     ?= 127.0.0.1:7070
# The OpenClaw version of the gateway image (Dockerfile.gateway).
OPENCLAW_VERSION ?= 2026.9.6
# `make up` runs the real gateway; GATEWAY_IMAGE=clawd-standin:latest runs
# the stand-in, which starts in milliseconds.
GATEWAY_IMAGE ?= clawd-gateway:$(OPENCLAW_VERSION)
GOTESTFLAGS  ?=
# stripe-mock (scripts/stripe-mock.sh starts it) for the billing tests.
export CLAWD_TEST_STRIPE_MOCK ?= http://127.0.0.1:12111

.PHONY: all build up test unit integration docker standin-image vet fuzz clean bench-create bench-wake

all: build

build: console
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/clawd

# The operator console (console/web, TypeScript + uPlot) bundled by esbuild
# into console/dist, which the binary embeds. npm ci installs exactly what
# console/web/package-lock.json pins; without npm the committed dist is used
# as it is (go build alone always works). `go test ./console` checks that
# the committed dist is what the sources build.
.PHONY: console
console:
	@if command -v npm >/dev/null 2>&1; then \
		cd console/web && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; } && node build.mjs; \
	else echo "console: npm not found; using the committed console/dist" >&2; fi

docker:
	@bash scripts/ensure-docker.sh

standin-image: docker
	@bash integration/standin/build.sh

# stripe-mock v0.203.0, installed with go install and started on
# 127.0.0.1:12111 unless it answers there already; the billing tests send
# every Stripe call clawd makes to it.
.PHONY: stripe-mock
stripe-mock:
	@bash scripts/stripe-mock.sh

# A PostgreSQL server for the ledger's tests (127.0.0.1:55432, data in
# /tmp/clawd-pg): a no-op when CLAWD_TEST_POSTGRES_DSN or that server
# answers. Recipes that need it run `eval "$$(bash scripts/postgres.sh)"`,
# which exports CLAWD_TEST_POSTGRES_DSN.
.PHONY: postgres
postgres:
	@bash scripts/postgres.sh >/dev/null

# Debian tools the tests use besides Docker (pebble for the TLS test).
.PHONY: tools
tools:
	@bash scripts/ensure-tools.sh

up: build docker standin-image gateway-image
	@echo "starting clawd (data dir $(DATADIR), router $(ROUTER_ADDR), admin API $(API_ADDR)); Ctrl-C stops it, tenants keep running"
	./$(BIN) up --datadir=$(DATADIR) --router.address=$(ROUTER_ADDR) --api.address=$(API_ADDR) --gateway.image=$(GATEWAY_IMAGE)

vet:
	$(GO) vet ./...

# Unit and integration tests against the real Docker engine, then the real
# OpenClaw gateway end to end (its image is built first, so the golden
# configs are validated by it too; a failed build fails the target).
# Every package, integration/ included, runs under the race detector, and so
# does the daemon those tests drive (a race it logs fails the test); about 7
# minutes on 2 cores.
# CLAWD_REQUIRE_DOCKER=1 (CI) turns a skip for a missing engine or tool into
# a failure.
test: docker standin-image tools postgres stripe-mock vet gateway-image
	eval "$$(bash scripts/postgres.sh)" && $(GO) test -race -count=1 -timeout 40m $(GOTESTFLAGS) ./...
	@$(MAKE) --no-print-directory e2e-openclaw

unit:
	$(GO) test -count=1 -short ./...

# A short run of every fuzzer (parsers of user input and of what providers
# send back).
FUZZ_PKGS := units config modelgw quota router ledger audit secrets
fuzz:
	@for p in $(FUZZ_PKGS); do \
		for f in $$(grep -ho '^func Fuzz[A-Za-z]*' $$p/*_test.go | cut -d' ' -f2); do \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=15s ./$$p || exit 1; done; done

clean:
	rm -rf bin

# Figures, not assertions: create → first 200 through the router beside the
# docker CLI doing the same by hand, and the daemon's RSS with 100 namespaces.
bench-create: docker standin-image
	CLAWD_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run '^TestBenchCreate$$' ./integration | grep -v '^=== RUN'

# The real OpenClaw gateway image (issue 5): clawd-gateway:$(OPENCLAW_VERSION)
# from Dockerfile.gateway; builds its Debian + Node base locally when no
# registry is reachable. Cached: a rerun with unchanged inputs takes seconds.
.PHONY: gateway-image
gateway-image: docker
	@OPENCLAW_VERSION=$(OPENCLAW_VERSION) bash gateway/build-image.sh

# The real OpenClaw gateway end to end (issue 5), on the image above: two
# namespaces through the router by hostname and by API key (HTTP, the
# WebSocket protocol to hello-ok, a key refused on the other namespace),
# config set reaching a running gateway, wakes from Paused and Stopped, a
# warm-pool adoption; logs the figures (FIGURE lines). Minutes, not seconds.
# A gateway image that cannot be built fails it.
.PHONY: e2e-openclaw
e2e-openclaw: docker tools postgres gateway-image
	eval "$$(bash scripts/postgres.sh)" && CLAWD_E2E_OPENCLAW=1 CLAWD_GATEWAY_IMAGE=clawd-gateway:$(OPENCLAW_VERSION) $(GO) test -count=1 -p 1 -v -timeout 60m \
		-run '^(TestE2EOpenClaw|TestRetentionOpenClaw|TestGoldenFilesValidate)$$' ./openclawcfg ./integration

# Figures, not assertions: the router beside the same backend reached
# directly and through nginx (Debian), by Host and by API key, then with
# 10,000 namespaces and keys in its tables. See router/bench/bench.sh.
# Then the hop between nodes in process: own node vs via a peer, and the
# protocol alone (HTTP/1.1 on fasthttp vs HTTP/2 on net/http).
.PHONY: bench-router
bench-router: docker standin-image
	@GO=$(GO) bash router/bench/bench.sh
	@$(GO) test -run '^$$' -bench '^(BenchmarkForwardPeer|BenchmarkPeerProtocol)$$' -cpu 1,2 -benchtime 3s -benchmem ./router

# Figures, not assertions: request → first byte for a namespace in each
# phase, beside docker pause/start/run by hand; 100 concurrent wakes.
bench-wake: docker standin-image
	CLAWD_BENCH=1 $(GO) test -count=1 -v -timeout 40m -run '^TestBenchWake$$' ./integration | grep -v '^=== RUN'

# The same table on the real OpenClaw gateway (three rounds; about 8 minutes).
.PHONY: bench-wake-openclaw
bench-wake-openclaw: docker standin-image gateway-image
	CLAWD_BENCH=1 CLAWD_BENCH_GATEWAY_IMAGE=$(GATEWAY_IMAGE) $(GO) test -count=1 -v -timeout 60m -run '^TestBenchWake$$' ./integration | grep -v '^=== RUN'

# Figures, not assertions, on the real OpenClaw gateway: wakes from Paused,
# Compressed (zram) and Stopped, memory per idle gateway Paused and
# Compressed, the host's memory per gateway measured with them all Paused
# then all Compressed (CLAWD_BENCH_GATEWAYS, default 2), and from it the
# gateways answering in < 1 s with and without the Compressed tier. Needs
# root and a kernel with zram.
.PHONY: bench-density
bench-density: docker standin-image gateway-image
	CLAWD_BENCH=1 CLAWD_BENCH_GATEWAY_IMAGE=$(GATEWAY_IMAGE) $(GO) test -count=1 -v -timeout 60m -run '^TestBenchDensity$$' ./integration | grep -v '^=== RUN'

# Figures, not assertions: calls/s and time to first token straight to the
# fake provider and through the model gateway (modelgw), whole and
# streamed, one call at a time and 64 at once.
.PHONY: bench-modelgateway
bench-modelgateway:
	CLAWD_BENCH=1 $(GO) test -count=1 -v -timeout 10m -run '^TestBenchModelGateway$$' ./modelgw | grep -v '^=== RUN'

# Figures, not assertions: events/s into the usage ledger through its
# batching Writer beside a plain INSERT per event (autocommit) into the same
# database, and the report and export over 1,000 namespaces x 90 days of
# hourly roll-ups, on SQLite and PostgreSQL. About 5 minutes.
.PHONY: bench-ledger
bench-ledger: postgres
	@eval "$$(bash scripts/postgres.sh)" && CLAWD_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run '^TestBenchLedger$$' ./ledger | grep -v '^=== RUN'
