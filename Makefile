# ECR Janitor. `make demo` and `make test` set everything up on first use (`make install` only sets up).
SHELL := /bin/bash
.DEFAULT_GOAL := help

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONPATH := $(CURDIR)/lambda:$(CURDIR)
export PYTHONDONTWRITEBYTECODE := 1

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CONFIG ?= ecr-janitor.yaml

.PHONY: help install demo test lint typecheck unit integration infra synth validate bench clean

help:
	@echo "make demo      run the nightly job against a local registry: a dry run, then a real run"
	@echo "make test      every check: ruff, mypy, unit, integration, CDK synth + cdk-nag + cfn-lint"
	@echo "make install   only set up .venv and the pinned CDK CLI"
	@echo "make validate  check ecr-janitor.yaml (CONFIG=path for another file)"
	@echo "make synth     synthesize the CDK stacks offline into cdk.out/ (EcrJanitor, EcrJanitorMemberRole)"
	@echo "make bench     benchmarks: ECR calls against the floor, speed-up, memory (BENCH_ARGS=--help)"

install: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: install
	$(PY) -m devtools.demo

bench: $(PY_STAMP)
	$(PY) -m bench $(BENCH_ARGS)

synth: install
	npx cdk synth --no-lookups -q -c config=$(CONFIG)

validate: $(PY_STAMP)
	$(PY) -m ecr_janitor validate --config $(CONFIG)

test: install lint typecheck unit integration infra

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(PY_STAMP)
	$(VENV)/bin/mypy lambda/ecr_janitor devtools tests bench app.py infra

unit: $(PY_STAMP)
	$(PY) -m pytest -q tests/unit

integration: $(PY_STAMP)
	$(PY) -m pytest -q tests/integration

# CDK: template tests (cdk-nag runs in every synth), then the real `cdk synth` offline, then cfn-lint on both
# stacks: the janitor, and the member role that other accounts deploy as a StackSet.
infra: install
	$(PY) -m pytest -q tests/infra
	npx cdk synth --no-lookups -q -c config=$(CONFIG)
	$(VENV)/bin/cfn-lint --config-file infra/cfn-lint.yaml -- cdk.out/EcrJanitor.template.json \
		cdk.out/EcrJanitorMemberRole.template.json

clean:
	rm -rf $(VENV) node_modules cdk.out .demo .bench .pytest_cache .mypy_cache .ruff_cache .hypothesis
