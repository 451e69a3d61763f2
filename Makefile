# Everything a fresh machine needs is set up by these targets themselves.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= .data/stack

.PHONY: setup system-packages test lint demo up down status bench constraints clean

CHECKOV_VENV := .venv-checkov
# Debian packages: MariaDB keeps Azurite's blob metadata durable in the local stack (stack/mariadb.py);
# bubblewrap sandboxes every localbatch task (localbatch/sandbox.py).
DEBIAN_PACKAGES := mariadb-server bubblewrap
DEBIAN_COMMANDS := mariadbd mariadb-install-db bwrap
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)

setup: system-packages $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed

# Installs only what is missing; refreshes the package lists only if the install needs it.
system-packages:
	@PATH="$$PATH:/usr/sbin"; ( for c in $(DEBIAN_COMMANDS); do command -v $$c >/dev/null || exit 1; done ) \
	  || { export DEBIAN_FRONTEND=noninteractive; \
	       $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null 2>&1 \
	       || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_PACKAGES); }; }
	@sh tests/web/install_browser.sh  # Debian's chromium for the dashboard's browser tests

$(VENV)/.installed: requirements.txt requirements-local.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# checkov pins versions the app's packages conflict with, so it gets a virtualenv of its own.
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

demo: setup
	$(PY) -m stack demo --data-dir .data/demo --out out

up: setup
	$(PY) -m stack up --data-dir $(DATA) $(if $(SLOTS),--slots $(SLOTS))

down:
	@test -x $(PY) && $(PY) -m stack down --data-dir $(DATA) || true

status: setup
	$(PY) -m stack status --data-dir $(DATA)

bench: setup
	$(PY) -m bench

# Re-pin every transitive dependency after changing a requirements file.
constraints: $(VENV)/.installed
	$(PY) -m pip freeze --exclude-editable | sed '1i # Every transitive dependency, pinned. Regenerate with `make constraints`.' > constraints.txt

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .data out .pytest_cache .mypy_cache .ruff_cache
