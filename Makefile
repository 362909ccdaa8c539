# The README's two commands call these targets.
VENV ?= .venv
PY := $(VENV)/bin/python
DATAOPS := $(VENV)/bin/dataops
HOME_DIR ?= .dataops

.PHONY: setup demo dagster-ui mlflow-ui test lint bench clean

$(PY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

setup: $(PY)
	$(VENV)/bin/pip install -q -e '.[dev]'

# The main job on embedded defaults: the reference scenario (SPEC §12) on SQLite, a local MLflow
# store and the home's own Dagster instance; nothing to start by hand. Exits non-zero if a check fails.
demo: setup
	$(DATAOPS) --home $(HOME_DIR) demo

# The UIs over the demo home (run `make demo` first). Both listen on loopback. The Dagster UI is
# served by `dg dev` ([tool.dg] in pyproject.toml); `dagster dev -w workspace.yaml` loads the same
# definitions under the same code location name.
dagster-ui: setup
	DATAOPS_HOME=$(abspath $(HOME_DIR)) DAGSTER_HOME=$(abspath $(HOME_DIR))/dagster VIRTUAL_ENV=$(abspath $(VENV)) \
	  $(VENV)/bin/dg dev -h 127.0.0.1 -p 3000

mlflow-ui: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(abspath $(HOME_DIR))/mlflow/mlflow.db -h 127.0.0.1 -p 5000

# pytest's exit 5 ("no tests collected", e.g. a -k filter matching nothing) is not a failure here.
test: setup
	@export DATAOPS_TEST_PG_URL="$${DATAOPS_TEST_PG_URL:-$$(./.ci/start-postgres.sh)}"; \
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check dataops_platform dataops_platform_tests bench

bench: setup
	$(PY) bench/audit_append.py
	$(PY) bench/lineage_impact.py

clean:
	rm -rf $(VENV) $(HOME_DIR)
