# Kirby: `make run` starts everything, `make test` checks everything.
# Both create .venv and install requirements.txt on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DEBUG ?= true

.PHONY: run demo test lint format services migrate clean bench bench-smoke tools envfile certs

$(STAMP): requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

services: $(STAMP)
	@$(BIN)/python -m lib.services

migrate: services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sync_starlistings

# A local .env on first use (generated SECRET_KEY, DEBUG=true, local services): manage.py commands read it.
envfile: $(STAMP)
	@$(BIN)/python -m lib.envfile

# honcho -e /dev/null: honcho would let .env override the environment; the settings read .env (the environment wins).
run: envfile migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo
	@echo "Kirby is starting:"
	@echo "  API        http://127.0.0.1:$${PORT:-8000}/"
	@echo "  API docs   http://127.0.0.1:$${PORT:-8000}/docs"
	@echo "  Admin      http://127.0.0.1:$${PORT:-8000}/admin/  (first admin user and API key: $(BIN)/python manage.py bootstrap_admin)"
	@echo "  OKX        curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/candles/okx/BTC/USDT/perps/1m"
	@echo "  Health     http://127.0.0.1:$${PORT:-8000}/health"
	@echo
	WEB_PORT=$${PORT:-8000} $(BIN)/honcho start -f Procfile -e /dev/null

# Kirby against the local exchange simulator: data flows without internet access.
demo: envfile migrate
	@$(BIN)/python manage.py create_api_key --user demo --name "make demo" --create-user
	@# The simulator speaks Binance, Bybit, OKX and Coinbase too: the demo switches on those (shipped inactive) exchanges.
	@$(BIN)/python manage.py shell -c "from apps.markets.models import Exchange; Exchange.objects.filter(name__in=['binance', 'bybit', 'okx', 'coinbase']).update(active=True)"
	@echo
	@echo "Kirby demo: collecting from the exchange simulator (ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/ws)"
	@echo "  Candles    curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/candles/hyperliquid/BTC/USD/perps/1m"
	@echo "  Binance    curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/candles/binance/BTC/USDT/spot/1m"
	@echo "  Bybit      curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/funding/bybit/BTC/USDT/perps"
	@echo "  OKX        curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/candles/okx/BTC/USDT/perps/1m"
	@echo "  Coinbase   curl -H 'Authorization: Bearer <the key above>' http://127.0.0.1:$${PORT:-8000}/candles/coinbase/BTC/USD/spot/1m"
	@echo "  Health     http://127.0.0.1:$${PORT:-8000}/health"
	@echo
	WEB_PORT=$${PORT:-8000} SIMULATOR_PORT=$${SIMULATOR_PORT:-8765} \
	KIRBY_HYPERLIQUID_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/ws \
	KIRBY_HYPERLIQUID_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765}/info \
	KIRBY_BINANCE_USDM_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/market/stream \
	KIRBY_BINANCE_SPOT_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/stream \
	KIRBY_BINANCE_USDM_PUBLIC_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/public/stream \
	KIRBY_BINANCE_USDM_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765} \
	KIRBY_BINANCE_SPOT_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765} \
	KIRBY_BYBIT_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/v5/public \
	KIRBY_BYBIT_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765} \
	KIRBY_OKX_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/ws/v5/public \
	KIRBY_OKX_BUSINESS_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/ws/v5/business \
	KIRBY_OKX_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765} \
	KIRBY_COINBASE_WS_URL=ws://127.0.0.1:$${SIMULATOR_PORT:-8765}/coinbase/ws \
	KIRBY_COINBASE_REST_URL=http://127.0.0.1:$${SIMULATOR_PORT:-8765} \
	KIRBY_COLLECTOR_SUPERVISE_SECONDS=2 \
	$(BIN)/honcho start -f Procfile.demo -e /dev/null

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Test tools from Debian's packages: headless Chromium and its driver (dashboard browser test),
# promtool and the node exporter (deploy/prometheus checks), nginx (the TLS deployment tests).
# Installed once, as root.
TOOLS := /usr/bin/chromium /usr/bin/chromedriver /usr/bin/promtool /usr/bin/prometheus-node-exporter /usr/sbin/nginx
tools:
	@for tool in $(TOOLS); do test -x $$tool || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing chromium, chromium-driver, prometheus, prometheus-node-exporter, nginx (Debian packages)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver prometheus prometheus-node-exporter nginx >/dev/null \
		|| { echo "could not install the test tools: run as root on Debian, or install those packages"; exit 1; }; \
	fi

# pytest on every core (pytest-xdist; tests/README.md says what keeps a test parallel-safe) and, next to
# it, the bench smoke: both spend much of their time waiting on servers they start. The smoke's output is
# shown when pytest is done (all of it if a bench did not finish); either failing fails the target.
# --dist worksteal: a worker that runs out takes half of the other's queue. With --dist load the first
# worker to ask was handed most of the slow end-to-end tests at the end of the order and the other sat
# idle for minutes (560 s wall for 330 s of tests per worker).
PYTEST_WORKERS ?= auto
test: services lint tools
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	@smoke_log=$$(mktemp); \
	$(BIN)/python bench/run.py --smoke >$$smoke_log 2>&1 & smoke=$$!; \
	trap 'kill $$smoke 2>/dev/null; rm -f $$smoke_log' INT TERM; \
	$(BIN)/pytest --ds=tests.settings -n $(PYTEST_WORKERS) --dist worksteal; tests=$$?; \
	wait $$smoke; smoked=$$?; \
	echo; echo "=== bench smoke (bench/run.py --smoke, run next to pytest)"; \
	if [ $$smoked -eq 0 ]; then sed -n '/^smoke run of/,$$p' $$smoke_log; else cat $$smoke_log; fi; \
	rm -f $$smoke_log; \
	[ $$tests -eq 0 ] && [ $$smoked -eq 0 ]

# Every bench at full scale (about an hour): one table at the end, the same as bench/results/<time>.json.
bench: services
	$(BIN)/python bench/run.py

# Every bench at a tiny scale, in its own database: fails when one no longer runs to the end.
bench-smoke: services
	$(BIN)/python bench/run.py --smoke

# A local CA and a certificate signed by it for nginx (deploy/certs; KIRBY_TLS_HOSTS: the names it is for).
certs:
	sh deploy/make-certs.sh deploy/certs $${KIRBY_TLS_HOSTS:-localhost 127.0.0.1}

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
