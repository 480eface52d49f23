# Two commands on a fresh machine (Python 3.11+, Node for CDK):  make demo   and   make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: install demo test test-fast fuzz lint bench clean

install: $(STAMP)  ## create .venv with deployer and its tools (leaves .venv/bin/deployer)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("deployer needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	@# uv installs the same packages as pip, about 5x faster on a fresh machine; pip if uv cannot install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv || true
	@# editable_mode=compat: a plain .pth, no import hook at every start. --compile-bytecode: uv
	@# writes no .pyc by default (pip does), and where PYTHONDONTWRITEBYTECODE is set every process
	@# would compile aws_cdk, botocore and pydantic again (import aws_cdk: 2.8 s instead of 0.8 s)
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[dev]" -C editable_mode=compat; \
	else $(BIN)/python -m pip install --quiet -e ".[dev]" --config-settings editable_mode=compat; fi
	$(BIN)/python -m compileall -q deployer handlers infra  # cached bytecode, even where writing it is off
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install  ## the whole story on the embedded default: the local emulator, no AWS account
	@bash scripts/demo.sh

test: install  ## the test suite (what CI runs)
	$(BIN)/python -m pytest -q

test-fast: install  ## unit and functional tiers only
	$(BIN)/python -m pytest -q tests/unit tests/functional

fuzz: install  ## property-based tests drawing new examples, ten times as many (make test draws fixed ones)
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q $$(grep -rl "from hypothesis" tests --include="test_*.py")

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy deployer handlers infra

bench: install  ## every benchmark, JSON on stdout
	@for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf cdk.out .deployer reports .pytest_cache .mypy_cache .ruff_cache .hypothesis
