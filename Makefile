# sikader: make run | make test | make lint (see README.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES := registry certification incentives notifications console
PKG_FILES := shared/pyproject.toml $(foreach s,$(SERVICES),services/$(s)/pyproject.toml) requirements-dev.txt

.PHONY: install postgres kafka-jars run walkthrough test test-unit test-handlers test-integration test-compose test-compose-cluster test-kafka-access test-faults test-examples examples-build test-browser chromium console-assets lint schemas asyncapi asyncapi-spec docs bench bench-smoke clean help

help:
	@echo "make run    - the whole system locally (broker, 4 services, the console on :8000, demo data); Ctrl-C stops it"
	@echo "make test   - the whole test suite (unit, contracts, integration over a real broker)"
	@echo "make lint   - ruff and mypy"
	@echo "make test-faults - the seeded fault schedule (kills, broker and PostgreSQL outages) with its invariants"
	@echo "make test-kafka-access - the secure broker (SASL/SCRAM over TLS, ACLs): agency and service principals"
	@echo "make test-examples - builds docs/examples/ (Java, Node, Go, Python) and runs them against the test stack"
	@echo "make test-browser - the console in headless Chromium (Selenium) against the test stack, axe-core checks; screenshots in var/screenshots"
	@echo "make chromium - install Debian's chromium and chromium-driver (apt) when missing"
	@echo "make console-assets - re-copy the console's npm libraries (leaflet, axe-core) as pinned in services/console/assets (needs Node)"
	@echo "make test-compose - docker-compose stack up through podman/docker, smoke-tested"
	@echo "make test-compose-cluster - the three-broker compose override up, replication and a broker stop checked"
	@echo "make bench  - benchmarks (figures + ratios, PostgreSQL); make bench-smoke: the same at small sizes"
	@echo "make postgres - install (Debian packages) and start PostgreSQL on 127.0.0.1:5432 with a test database"
	@echo "make schemas - re-export the event JSON Schemas after changing an event model"
	@echo "make asyncapi - regenerate docs/asyncapi.json and docs/events.md (make schemas runs it too)"
	@echo "make docs - every generated document (make asyncapi, and docs/integration.md's generated parts)"
	@echo "make asyncapi-spec - re-copy the official AsyncAPI JSON Schema from the pinned npm package"

$(STAMP): $(PKG_FILES)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ needed")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e shared $(foreach s,$(SERVICES),-e services/$(s)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL on 127.0.0.1:5432 (installed from Debian's packages and started if nothing answers there),
# with a `test` database: what TEST_DATABASE_URL and the benchmarks use.
postgres:
	scripts/postgres-setup.sh

# Apache Kafka's broker and tools jars from Maven Central into ~/.m2 (the version pinned in
# deploy/kafka/version.env); the tests and `make run` also fetch them on first use.
kafka-jars: $(STAMP)
	$(BIN)/python -c 'from sikader_shared.local_kafka import classpath, kafka_version; classpath(); print("Apache Kafka", kafka_version(), "jars in ~/.m2")'

run: $(STAMP)
	$(BIN)/python scripts/run_local.py

# With `make run` going in another terminal: one Posyandu, one cadre and one month, end to end.
walkthrough: $(STAMP)
	$(BIN)/python scripts/walkthrough.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

# Handlers on their databases, no broker, no HTTP: the fast tier (under 60 s).
test-handlers: $(STAMP)
	$(BIN)/python -m pytest -q -m handlers tests/handlers

test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -m integration

# The docker-compose stack through the container engine (podman here): opt-in, CI runs it.
test-compose: $(STAMP)
	$(BIN)/python -m pytest -q -m compose tests/deploy

# The three-broker override (deploy/compose.cluster.yml) brought up and checked: opt-in, not in CI.
test-compose-cluster: $(STAMP)
	$(BIN)/python -m pytest -q -m compose_cluster tests/deploy/test_compose_cluster.py

# The secure broker (SASL/SCRAM-SHA-512 over TLS, ACLs): an agency's and a service's principals
# on Apache Kafka (tests/kafka_access): opt-in, CI runs it (about 30 s).
test-kafka-access: $(STAMP)
	$(BIN)/python -m pytest -q -m kafka_access tests/kafka_access

# Seeded fault schedule under load (SIGKILLs, broker away, PostgreSQL restart, receiver down): opt-in, CI runs it.
test-faults: $(STAMP)
	$(BIN)/python -m pytest -q -m faults tests/faults

# The integrators' examples (docs/examples/: Java, Node, Go, Python) built, then run against the
# test stack on Apache Kafka (tests/examples): opt-in, CI runs it. Builds into gitignored folders.
EXAMPLES := docs/examples
examples-build:
	cd $(EXAMPLES)/java && mvn -q -B clean package
	cd $(EXAMPLES)/go && go build -o bin/sikader-example .
	cd $(EXAMPLES)/node && npm ci --no-audit --no-fund --loglevel=error

test-examples: $(STAMP) examples-build
	$(BIN)/python -m pytest -q -m examples tests/examples

# The console in a real browser: Debian's Chromium and its driver (make chromium), Selenium with an
# explicit driver path and Selenium Manager offline; the stack on Apache Kafka as in the tests
# (tests/browser): opt-in, CI runs it. Screenshots of each page go to var/screenshots/.
test-browser: $(STAMP) chromium
	SE_OFFLINE=true $(BIN)/python -m pytest -q -m browser tests/browser

# Debian's packages only (no browser download); nothing to do when both are installed.
chromium:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium and chromedriver present: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	else \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing Debian's chromium and chromium-driver (log /tmp/chromium-setup-apt.log)"; \
	  $$SUDO apt-get update -q >/tmp/chromium-setup-apt.log 2>&1; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver \
	    >>/tmp/chromium-setup-apt.log 2>&1 || { tail -20 /tmp/chromium-setup-apt.log; exit 1; }; \
	  /usr/bin/chromium --version; /usr/bin/chromedriver --version; \
	fi

# The console's browser libraries copied from the pinned npm packages (services/console/assets:
# package.json, package-lock.json) with their hashes (vendored.json). Only this needs Node: the
# copies are committed, and `make run` and the tests read them.
console-assets:
	cd services/console/assets && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PYTHON) services/console/assets/vendor.py

lint: $(STAMP)
	$(BIN)/ruff check shared services tests scripts docs/examples/python
	# one mypy run per package (each service is checked with shared/ as it is deployed)
	$(BIN)/mypy shared/sikader_shared
	set -e; for s in $(SERVICES); do $(BIN)/mypy services/$$s/$$s; done

# Benchmarks print figures and ratios measured in one run; they assert no timing.
BENCH_DB ?= postgresql://postgres@127.0.0.1:5432/test

bench: $(STAMP) postgres
	$(BIN)/python -m bench.throughput --events 100000 --cadres-known
	$(BIN)/python -m bench.latency --cadres 1000 --rate 25
	$(BIN)/python bench/incentives_calculation.py --cadres 100000 --database-url $(BENCH_DB)
	$(BIN)/python bench/incentives_calculation.py --cadres 1000000 --database-url $(BENCH_DB)
	$(BIN)/python bench/registry_import.py --rows 100000 --database-url $(BENCH_DB)
	$(BIN)/python -m bench.webhook_delivery --events 10000
	$(BIN)/python -m bench.console_render

bench-smoke: $(STAMP) postgres
	$(BIN)/python -m bench.throughput --events 2000 --naive-events 300 --cadres-known
	$(BIN)/python -m bench.latency --cadres 60 --rate 20
	$(BIN)/python bench/incentives_calculation.py --cadres 1000 --database-url $(BENCH_DB)
	$(BIN)/python bench/registry_import.py --rows 1000 --database-url $(BENCH_DB)
	$(BIN)/python -m bench.webhook_delivery --events 50 --seconds 3
	$(BIN)/python -m bench.console_render --small

schemas: $(STAMP)
	$(BIN)/python -m sikader_shared.schema_export
	$(MAKE) docs

# The platform's AsyncAPI 3.0 document and the event catalogue, from the event models and samples.
asyncapi: $(STAMP)
	$(BIN)/python -m sikader_shared.asyncapi
	$(BIN)/python -m sikader_shared.event_docs

# Every generated document: the above, and docs/integration.md's route scopes and example messages.
docs: asyncapi
	$(BIN)/python scripts/integration_docs.py

# The official AsyncAPI JSON Schema copied from the pinned npm package (@asyncapi/specs, see
# tests/contracts/asyncapi-spec/package.json) with its hashes; the tests read the copy only.
asyncapi-spec:
	cd tests/contracts/asyncapi-spec && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PYTHON) tests/contracts/asyncapi-spec/vendor.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
