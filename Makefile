# The two commands of the README: `make run` (the demo on embedded pieces) and `make test`.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/sequences
# The demo's workers and the benchmarks run the development setup (the settings' DEBUG is
# off unless asked for; manage.py asks by itself, the tests in pyproject.toml).
DEV := DEBUG=$${DEBUG:-true}

.PHONY: install run test lint format bench browser peers

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install it (pyenv install 3.13) or set PYTHON=/path/to/python3.13"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --group dev
	@touch $@

install: $(BIN)/.installed

# Web server, Celery worker with beat (filesystem broker), the SMTP sandbox the demo
# mailboxes send through (its later answers land in .data/sandbox-inboxes/<login>/), the
# IMAP sandbox serving those mailboxes on port 1143, the OAuth sandbox their Google and
# Microsoft sign-in goes through, and the DNS sandbox their domains are checked against, on
# SQLite; Ctrl-C stops all.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Open http://$(HOST):$(PORT)/ and sign in with one of the demo logins above."
	@echo
	export $(DEV); trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(BIN)/python manage.py smtp_sandbox --smtputf8 & \
	$(BIN)/python manage.py imap_sandbox & \
	$(BIN)/python manage.py oauth_sandbox & \
	$(BIN)/python manage.py dns_sandbox & \
	$(BIN)/celery -A config worker --beat --pool=solo --loglevel=INFO & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The browser tests drive Debian's Chromium; Playwright never downloads a browser here.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The mail servers the tests and the benchmark run as peers: Debian's Postfix (a private
# instance per test, with Cyrus SASL: tests/postfix.py) and its smtp-sink; Debian's Dovecot
# (a private IMAP server per test session: tests/dovecot.py). Postfix is preseeded to
# "No configuration" so that installing it does not set up a system mail server; neither
# package's system service is used.
peers:
	@test -x /usr/sbin/postfix -a -x /usr/sbin/saslpasswd2 -a -x /usr/sbin/dovecot || { \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections && \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix sasl2-bin libsasl2-modules \
			dovecot-imapd; }

test: install browser peers
	@# CONN_MAX_AGE=0: the live server's request threads must not keep connections open,
	@# or the test database cannot be dropped at the end.
	DATABASE_URL=$(TEST_DATABASE_URL) CONN_MAX_AGE=0 $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install peers
	$(DEV) $(BIN)/python bench/bench_diagnose.py
	$(DEV) $(BIN)/python bench/bench_sending.py
	$(DEV) $(BIN)/python bench/bench_domain_checks.py
	$(DEV) $(BIN)/python bench/bench_emails_tab.py
	$(DEV) $(BIN)/python bench/bench_import.py
	$(DEV) $(BIN)/python bench/bench_inbox.py
