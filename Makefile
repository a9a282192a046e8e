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
	$(PY) -m bench compare --pattern spike

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

# --- production daemon (HTTP ingress) benchmarks; not part of `make test` ---
.PHONY: wrk bench-ingress daemon

# Debian's wrk, the external HTTP load generator of `python -m bench load --wrk-compare`.
wrk:
	command -v wrk >/dev/null 2>&1 || (apt-get update && apt-get install -y wrk)

daemon: $(STAMP)
	$(PY) -m daemon --config configs/daemon.toml

# Ingress figures of docs/benchmarks.md: wrk vs a bare aiohttp app, batch ingress, idle RSS.
bench-ingress: $(STAMP) wrk
	$(PY) -m bench load --wrk-compare --rounds 3 --wrk-duration 10
	$(PY) -m bench load --spawn sink --pattern steady --duration 10 --base-rate 100000 --batch 100
	$(PY) -m bench load --idle-rss
