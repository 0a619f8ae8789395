# The Makefile is the project's interface: CI and the README call these targets.
SHELL := /bin/bash
# Lambda runs Python 3.13: so do the virtualenvs. The first python3.13 that really is 3.13 (a
# pyenv shim for a version that is not selected is not), else pyenv's own build of it.
# Looked up once per make run (an immediate assignment), and only when PYTHON is not given.
ifndef PYTHON
PYTHON := $(shell for candidate in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3 2>/dev/null | sort -V -r); do \
	"$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$candidate"; break; }; done)
endif
VENV ?= .venv
BIN := $(VENV)/bin
# checkov pins a boto3 the project's pin excludes, so it lives in a virtualenv of its own.
CHECKOV_VENV ?= .venv-checkov
# make lint writes the synthesized template and the deployed state machine definitions here.
LINT_DIR ?= build/lint
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

# make synth renders the template with example owner contacts; make deploy needs real ones.
SYNTH_OWNER_PHONE ?= +15550100000
SYNTH_OWNER_EMAIL ?= owner@example.com

# make demo serves the local stack here (127.0.0.1).
PORT ?= 8080
# make demo runs the door agent beside the stack (the IoT lock over the local broker), its relay on
# the console; DOOR=webcam (the laptop's webcam 0) or DOOR=path/to/porch.avi (a video) gives it a
# camera (docs/door.md, "Locally").
DOOR ?=
DOOR_ARGS := $(if $(DOOR),$(if $(filter webcam,$(DOOR)),--door-camera 0,--door-video $(DOOR)),--door-agent)

.PHONY: help install demo layers test lint format synth preflight deploy bench clean clean-venv openapi

help:
	@echo "make demo    - create .venv if needed, install, run the whole system locally (PORT=8080; the door agent too, its relay on the console; DOOR=webcam|FILE: with a camera)"
	@echo "make test    - create .venv if needed, install, run the offline test suite"
	@echo "make lint    - ruff, mypy; asl-validator, cfn-lint (+ serverless rules) and checkov on the synthesized stack"
	@echo "make openapi - regenerate docs/openapi.json from the API code"
	@echo "make synth   - write the CloudFormation template to cdk.out/"
	@echo "make bench   - benchmarks and the cost model: a table, benchmarks/RESULTS.md and charts (3-5 min)"
	@echo "make preflight OWNER_PHONE=+E164 OWNER_EMAIL=you@example.com [AWS=1] - what to fix before deploying"
	@echo "make deploy OWNER_PHONE=+E164 OWNER_EMAIL=you@example.com - deploy to the current AWS account"

$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Smart Door needs Python 3.13 (as Lambda runs it): install it (pyenv install 3.13) or pass PYTHON=/path/to/python3.13"; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); Smart Door needs 3.13 (as Lambda runs it)"; exit 2; }
	@test ! -x $(BIN)/python || $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' || { echo "$(VENV) is not Python 3.13: make clean-venv, then make install"; exit 2; }
	@echo "Installing Smart Door's Python packages into $(VENV) (Python 3.13): the first run takes a few minutes."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@
	@echo "Installed: $(BIN)/smartdoor is ready."

$(CHECKOV_VENV)/bin/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# Node.js itself comes from npm (the node package), so node_modules/.bin/node is first on PATH.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(BIN)/.installed

# The whole system on this machine: plays the scripted story, then serves until Ctrl-C.
demo: $(BIN)/.installed node_modules/.installed layers
	$(BIN)/smartdoor local --port $(PORT) $(DOOR_ARGS)

test: $(BIN)/.installed node_modules/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed node_modules/.installed $(CHECKOV_VENV)/bin/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cdk_app functions smartdoor_local smartdoor_door
	@# AWS's own checkers on what the stack deploys: the synthesized template and every state
	@# machine definition with its substitutions applied (docs/internals.md, "Checks").
	PYTHONPATH=functions $(BIN)/python -m tests.infra.lint_inputs $(LINT_DIR)
	for definition in $(LINT_DIR)/asl/*.asl.json; do asl-validator --json-path "$$definition" || exit 1; done
	$(BIN)/cfn-lint --template $(LINT_DIR)/cdk.out/SmartDoor.template.json
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --skip-download \
		--file $(LINT_DIR)/cdk.out/SmartDoor.template.json

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Lambda layers, unpacked from PyPI's prebuilt wheels (no Docker): msgspec for every
# function, Pillow for extract_frame, cryptography/http-ece/py-vapid for Web Push.
layers: $(BIN)/.installed
	scripts/build_layer.sh msgspec arm64
	scripts/build_layer.sh pillow arm64
	scripts/build_layer.sh webpush arm64

# Measurements, not tests (docs/performance.md): prints every figure beside its target and
# writes benchmarks/RESULTS.md and the charts. Offline; synthesizes the app in-process.
bench: $(BIN)/.installed layers
	$(BIN)/python -m benchmarks

synth: $(BIN)/.installed node_modules/.installed layers
	cdk synth --quiet -c ownerPhone=$(SYNTH_OWNER_PHONE) -c ownerEmail=$(SYNTH_OWNER_EMAIL)

# What a deployer must fix before cdk deploy (docs/sms.md): offline by default; AWS=1 also asks
# the account (credentials and region as the CDK CLI finds them). PREFLIGHT_ARGS="-c key=value".
preflight: $(BIN)/.installed
	$(BIN)/python -m smartdoor_local.preflight \
		$(if $(OWNER_PHONE),-c ownerPhone=$(OWNER_PHONE)) $(if $(OWNER_EMAIL),-c ownerEmail=$(OWNER_EMAIL)) \
		$(if $(filter 1 yes true,$(AWS)),--aws) $(PREFLIGHT_ARGS)

deploy: $(BIN)/.installed node_modules/.installed layers
	@test -n "$(OWNER_PHONE)" || { echo "make deploy needs OWNER_PHONE=+E164 (the owner's mobile number)"; exit 2; }
	@test -n "$(OWNER_EMAIL)" || { echo "make deploy needs OWNER_EMAIL=you@example.com"; exit 2; }
	cdk deploy -c ownerPhone=$(OWNER_PHONE) -c ownerEmail=$(OWNER_EMAIL)

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache tests/artifacts

clean-venv:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules

# docs/openapi.json, generated from the API's routes and models (tests/unit/test_openapi.py checks it).
openapi: $(BIN)/.installed
	PYTHONPATH=functions:. $(BIN)/python -m api.openapi > docs/openapi.json
