# Airlock developer entry points. Everything generated at run time lives under .airlock/ (gitignored).
SHELL := /bin/bash
NODE_BIN := $(shell bash hack/node.sh)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: all deps tools test-tools build crds crds-check test test-unit fuzz cluster-up cluster-down up down bench lint clean

all: build

deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

## tools: the control plane, kubectl, helm and the other binaries everything here runs (cached by content)
tools:
	@bash hack/build-tools.sh >/dev/null

## test-tools: tools plus what only the tests need (a Jaeger for the trace tests, make up builds it only with
## TRACING=1; the kstatus reader GitOps tools use)
test-tools: tools
	@bash hack/jaeger.sh >/dev/null
	@bash hack/kstatus.sh >/dev/null

build: deps
	tsc -p tsconfig.json

crds: build
	node dist/src/api/generate.js
	cp crds/*.yaml charts/airlock/crds/

crds-check: build
	node dist/src/api/generate.js --check

## test: the whole suite (unit + integration against a real control plane). Same command CI runs.
test: deps test-tools build
	npm test

test-unit: deps
	npm run test:unit

## fuzz: the generative attack tests at a larger count (FUZZ_COUNT requests, EXEC_FUZZ_COUNT execs; FUZZ_SEED to change the run)
FUZZ_COUNT ?= 20000
EXEC_FUZZ_COUNT ?= 3000
fuzz: deps tools build
	AIRLOCK_FUZZ_COUNT=$(FUZZ_COUNT) AIRLOCK_EXEC_FUZZ_COUNT=$(EXEC_FUZZ_COUNT) $(if $(FUZZ_SEED),AIRLOCK_FUZZ_SEED=$(FUZZ_SEED)) npm test -- --selectProjects integration --testPathPatterns 'attack-generative|exec-generative'

## cluster-up / cluster-down: a local control plane only (state in .airlock/cluster)
cluster-up: tools
	bash hack/cluster.sh up

cluster-down:
	bash hack/cluster.sh down

## up / down: Airlock end to end on an embedded control plane (or the current kube context with TARGET=context; TRACING=1 adds a local Jaeger for its traces)
up: deps tools build
	bash hack/up.sh

down:
	bash hack/down.sh

bench: deps tools build
	npm run bench

clean:
	rm -rf dist .airlock
