# One-word entry points. `make run` and `make test` work on a fresh machine with Python 3.11,
# 3.12 or 3.13: the newest found is used (or PYTHON=/path/to/python).
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
# One that runs and can make a virtualenv: a pyenv shim for a version not selected does not.
PYTHON ?= $(shell for p in $(SUPPORTED_PYTHONS); do \
	$$p -c "import ensurepip, venv" >/dev/null 2>&1 && { command -v $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8000
export LITELLM_LOCAL_MODEL_COST_MAP := True
export LITELLM_OFFLINE_MODE := true

.PHONY: run worker web test lint fmt bench venv migrate clean which-python

$(BIN)/activate:
	@test -n "$(PYTHON)" || { echo "none of $(SUPPORTED_PYTHONS) found; install one or set PYTHON=/path/to/python3"; exit 1; }
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3"; exit 1; }
	@echo "Using $(PYTHON) ($$($(PYTHON) --version)) for $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-test.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements-test.txt
	@touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --no-input

# Web server and a Celery worker together; Ctrl-C stops both.
run: migrate
	@DEBUG=$${DEBUG:-1} OUTBOUND_ALLOWED_HOSTS=$${OUTBOUND_ALLOWED_HOSTS:-127.0.0.1,::1,localhost} \
		$(PY) -m scripts.run_dev --port $(PORT)

worker: venv
	$(BIN)/celery -A config worker --loglevel=INFO --pool=threads --concurrency=4

web: migrate
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: venv
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf data/broker data/*.sqlite3*

which-python:
	@echo "$(PYTHON)"
