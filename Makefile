# rustscope: `make` builds ./rustscope; `make test` runs every test (root for the end-to-end ones).
GO      ?= go
BIN     ?= rustscope
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rustscope/rustscope/tracer.Version=$(VERSION)

.PHONY: all build docker-build generate generate-check vmlinux testapps test unit e2e bench soak fuzz vet clean help

all: build

build: ## build ./rustscope (static, no clang needed: BPF objects are committed)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

IMG      ?= rustscope:dev
CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt

# The image's binary is `make build`'s without the symbol table and DWARF (-s -w).
docker-build: ## container image IMG (default rustscope:dev): FROM scratch, static rustscope and the host's CA roots
	@ctx=$$(mktemp -d) && \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS) -s -w' -o $$ctx/rustscope . && \
		cp $(CA_CERTS) $$ctx/ca-certificates.crt && \
		docker build -q -t $(IMG) -f Dockerfile $$ctx; rc=$$?; rm -rf $$ctx; exit $$rc

generate: ## rebuild the BPF objects and Go bindings (installs clang, llvm, libbpf-dev if missing)
	@command -v clang >/dev/null && command -v llvm-strip >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm libbpf-dev; }
	$(GO) generate ./bpf/

generate-check: generate ## fail if the committed BPF output differs from a fresh build
	git diff --exit-code -- bpf/

vmlinux: ## refresh bpf/include/vmlinux.h from this kernel's BTF (needs bpftool)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h

testapps: ## build the Rust test apps offline from Debian's crate sources (cached outside the clone)
	bash testapps/build.sh

test: build testapps ## all tests: unit, then the root end-to-end tests against the Rust test apps
	$(GO) test -count=1 -timeout 30m ./...

unit: ## tests that need neither root nor the test apps
	$(GO) test -count=1 -short ./...

bench: build testapps ## overhead and capacity, traced vs untraced, plus the Go benchmarks: rewrites docs/performance.md (root, ~17 min)
	@command -v tmux >/dev/null || apt-get install -y tmux
	$(GO) build -o bin/bench ./bench
	./bin/bench -rustscope ./rustscope -apps testapps/bin -out docs/performance.md

SOAK ?= 10m
soak: build testapps ## SOAK (default 10m) at 2,000 requests/s, rustscope headless: RSS and CPU every 10 s into docs/performance.md's soak section (root)
	$(GO) build -o bin/bench ./bench
	./bin/bench -rustscope ./rustscope -apps testapps/bin -out docs/performance.md -soak $(SOAK)

FUZZTIME ?= 60s
FUZZ_TARGETS := ./tracer/http1:FuzzConn ./tracer/http1:FuzzSplit ./tracer/http1:FuzzRoundTrip ./tracer/http1:FuzzFields \
	./tracer/http2:FuzzFeed ./tracer/http2:FuzzRoundTrip ./tracer:FuzzGRPCSpan ./tracer:FuzzDecodeAndAssemble ./tracer:FuzzTLS \
	./lib/axum:FuzzRead ./lib/axum:FuzzMatch ./symbols:FuzzAnalyze

# A target fails when it writes a failing input. Go 1.26's fuzz coordinator
# may also report "context deadline exceeded" as the fuzz time runs out,
# with no input written (golang/go#75804, fixed in Go 1.27): that is said,
# not failed.
fuzz: ## run every fuzz target for FUZZTIME each (default 60s)
	@for t in $(FUZZ_TARGETS); do \
		echo "== $$t"; \
		out=$$(mktemp); \
		$(GO) test $${t%%:*} -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s >$$out 2>&1; rc=$$?; cat $$out; \
		if [ $$rc -ne 0 ]; then \
			if grep -q 'context deadline exceeded' $$out && ! grep -q 'Failing input written' $$out; then \
				echo "== $$t: the fuzz coordinator's deadline race (golang/go#75804), no failing input: not a failure"; \
			else rm -f $$out; exit 1; fi; \
		fi; \
		rm -f $$out; \
	done

vet: ## go vet
	$(GO) vet ./...

clean: ## remove build output (the test-app cache stays)
	rm -f $(BIN)

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
