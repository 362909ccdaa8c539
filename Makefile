# The README's two commands call these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
DATAOPS := $(VENV)/bin/dataops
HOME_DIR ?= .dataops

.PHONY: setup demo test lint bench clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

setup: $(PY)
	$(VENV)/bin/pip install -q -e '.[dev]'

# The main job on embedded defaults: SQLite store, local MLflow store, nothing to start by hand.
demo: setup
	rm -rf $(HOME_DIR)
	$(DATAOPS) --home $(HOME_DIR) init --admin alice
	$(DATAOPS) --home $(HOME_DIR) --as alice spec apply examples/platform.yaml
	$(DATAOPS) --home $(HOME_DIR) --as alice spec apply examples/platform.yaml
	$(DATAOPS) --home $(HOME_DIR) --as dan spec apply examples/platform.yaml || test $$? -eq 3
	$(DATAOPS) --home $(HOME_DIR) --as alice audit list
	$(DATAOPS) --home $(HOME_DIR) --as alice audit verify

# Tests on real SQLite and a real PostgreSQL server (started on loopback when none is running).
# pytest's exit 5 ("no tests collected", e.g. a -k filter matching nothing) is not a failure here.
test: setup
	@export DATAOPS_TEST_PG_URL="$${DATAOPS_TEST_PG_URL:-$$(./.ci/start-postgres.sh)}"; \
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check dataops_platform dataops_platform_tests bench

bench: setup
	$(PY) bench/audit_append.py

clean:
	rm -rf $(VENV) $(HOME_DIR)
