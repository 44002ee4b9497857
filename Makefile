# auditdash: two commands do all set-up on a fresh Debian machine with Python 3.11.
#   make run    install, seed demo data on first start, serve http://127.0.0.1:8050
#   make test   install test needs (Debian chromium, chromium-driver, poppler-utils, postgresql, nodejs, npm, rsyslog, rsyslog-gnutls), run every test

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
GEO_DIR := data/geo
DEBIAN_TEST_PACKAGES := chromium chromium-driver poppler-utils postgresql nodejs npm rsyslog rsyslog-gnutls
# the OpenID Connect provider the single sign-on tests sign in at (npm packages from its lock file)
OIDC_DIR := tests/oidc
OIDC_STAMP := $(OIDC_DIR)/node_modules/.package-lock.json
# pytest-xdist: one worker per core of a 2-core machine; --dist loadfile keeps each test module on one
# worker, in order (its module-scoped server is made once; test_zz_* runs last). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: run test lint typecheck pytest geo system-test-deps clean help

help:
	@echo "make run    serve the dashboard on http://127.0.0.1:8050 (demo data on first start)"
	@echo "make test   run every test (lint, types, unit, API, browser)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP) $@

geo:
	bash scripts/install-geo.sh $(GEO_DIR)

run: $(STAMP) geo
	$(BIN)/auditdash serve

system-test-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || missing="$$missing rsyslog"; \
	ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || missing="$$missing rsyslog-gnutls"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(DEBIAN_TEST_PACKAGES); \
	fi

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

$(OIDC_STAMP): $(OIDC_DIR)/package-lock.json | system-test-deps
	npm ci --prefix $(OIDC_DIR) --no-audit --no-fund

pytest: $(TEST_STAMP) system-test-deps geo $(OIDC_STAMP)
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$rc

# lint and typecheck run beside pytest (make -j): they fill the cores while tests wait for servers,
# browsers and timeouts. --output-sync=line keeps their lines whole; any failure fails `make test`.
test: $(TEST_STAMP) system-test-deps geo $(OIDC_STAMP)
	@$(MAKE) --no-print-directory -j3 --output-sync=line lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-results
