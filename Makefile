# SGraph Send — the two commands are `make demo` and `make test`; the rest serve them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

CDK_ARGS ?=
CDK := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node_modules/.bin/cdk

.PHONY: install system-deps test test-fast lint demo serve bench synth bootstrap deploy clean

install: $(STAMPS)/python $(STAMPS)/system

# Re-installs only when the project's dependencies change.
$(STAMPS)/python: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Debian packages the tests use (chromium for the browser client, coturn for TURN).
$(STAMPS)/system: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	bash scripts/install-system-deps.sh
	@touch $@

system-deps: $(STAMPS)/system

# two workers: browser, lab and each e2e module keep their shared fixtures on one
# (tests/conftest.py); the suite is about 20 min on one worker, under 15 on two
test: install
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: install
	$(PY) -m pytest tests/unit

lint: install
	$(VENV)/bin/ruff check transfer_core lambdas devstack infra tests bench
	$(VENV)/bin/mypy transfer_core lambdas infra devstack
	$(VENV)/bin/mypy --explicit-package-bases tests bench

demo: install
	$(PY) -m devstack.demo

serve: install
	$(PY) -m devstack

bench: install
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done
	@echo "== bench/bench_wan.py at RTT 80 ms over 1,500-byte and jumbo links"
	$(PY) bench/bench_wan.py --points 80:0 --mib 64 --mtu 9000
	@echo "== bench/bench_wan.py: Chromium to the CLI at RTT 40 ms"
	$(PY) bench/bench_wan.py --browser-only

node_modules/.bin/cdk: package.json
	npm install --no-audit --no-fund
	@touch $@

# the AWS side needs only the Python environment and the cdk CLI (no chromium, no coturn)
synth: $(STAMPS)/python node_modules/.bin/cdk
	$(CDK) synth --quiet $(CDK_ARGS)

bootstrap: $(STAMPS)/python node_modules/.bin/cdk
	$(CDK) bootstrap $(if $(PROFILE),--profile $(PROFILE)) $(CDK_ARGS)

# prints the page to open (WebUrl) last; cdk-outputs.json keeps every output
deploy: $(STAMPS)/python node_modules/.bin/cdk
	$(CDK) deploy $(if $(PROFILE),--profile $(PROFILE)) --outputs-file cdk-outputs.json $(CDK_ARGS)
	@$(PY) -c 'import json; o = json.load(open("cdk-outputs.json"))["SGraphSend"]; print("\nOpen " + o["WebUrl"] + " to send a file; CLI: sgraph-send send FILE --server " + o["WebUrl"])'

clean:
	rm -rf $(VENV) $(STAMPS) cdk.out cdk-outputs.json node_modules
