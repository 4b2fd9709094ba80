# sikader: make run | make test | make lint (see README.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES := registry certification incentives notifications
PKG_FILES := shared/pyproject.toml $(foreach s,$(SERVICES),services/$(s)/pyproject.toml) requirements-dev.txt

.PHONY: install run test test-unit test-integration lint schemas clean help

help:
	@echo "make run    - the whole system locally (broker, 4 services, demo data); Ctrl-C stops it"
	@echo "make test   - the whole test suite (unit, contracts, integration over a real broker)"
	@echo "make lint   - ruff and mypy"
	@echo "make schemas - re-export the event JSON Schemas after changing an event model"

$(STAMP): $(PKG_FILES)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e shared $(foreach s,$(SERVICES),-e services/$(s)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run_local.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

lint: $(STAMP)
	$(BIN)/ruff check shared services tests scripts
	$(BIN)/mypy shared/sikader_shared $(foreach s,$(SERVICES),services/$(s)/$(s))

schemas: $(STAMP)
	$(BIN)/python -m sikader_shared.schema_export

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
