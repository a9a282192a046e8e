# Two commands do all the set-up: `make run` and `make test`.
# Both create .venv on first use and reinstall only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint types unit clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m workload preview --pattern spike

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	$(PY) -m pytest

test: lint types unit

clean:
	rm -rf $(VENV) build *.egg-info

# Headless browser check of the HTML report (tests/browser). `make test` runs it
# too, but it skips there (with the reason shown) when chromium is absent.
.PHONY: chromium test-browser
chromium:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

test-browser: $(STAMP) chromium
	SWITCHYARD_SCREENSHOT=$${SWITCHYARD_SCREENSHOT:-/tmp/switchyard-report.png} \
		$(PY) -m pytest tests/browser -q -rs
	@echo "screenshot: $${SWITCHYARD_SCREENSHOT:-/tmp/switchyard-report.png}"
