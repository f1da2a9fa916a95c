# Two commands run the store: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ADDR   ?= 127.0.0.1:8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/vodstore

.PHONY: run test lint test-sqlite test-postgres install install-dev demo worker drill faults security broker-drill check-deploy clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: install, migrate (the two original films arrive with it), make their demo feature
## and trailer (once, about 10 s), make a development admin account, and serve the store
## on http://$(ADDR) with SQLite.
run: install
	DEBUG=true $(BIN)/python manage.py migrate --no-input
	DEBUG=true $(BIN)/python manage.py make_demo_media --originals
	DEBUG=true $(BIN)/python manage.py dev_admin
	DEBUG=true $(BIN)/python manage.py runserver $(ADDR)

## demo: fill the catalog with N realistic films (default 200); MEDIA=1 also makes each
## one's feature and trailer clips (about 5 s a film, so not by default).
demo: install
	DEBUG=true $(BIN)/python manage.py load_demo_catalog --count $(or $(N),200) $(if $(MEDIA),--with-media)

## worker: deliver retried and orphaned events (run beside `make run`, or as its own
## process in production: `manage.py outbox_worker`).
worker: install
	DEBUG=true $(BIN)/python manage.py outbox_worker

## test: lint, check the import contracts, run every test on SQLite.
test: install-dev lint test-sqlite

## lint: ruff, the import contracts (apps meet only at their public surface), a
## migration for every model change, the deploy files.
lint: install-dev check-deploy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

## check-deploy: the deploy files without an engine or a cluster: compose.yaml against the
## Compose specification, deploy/k8s (base and production, rendered) against Kubernetes'
## schemas, the Dockerfile with hadolint (tools pinned in requirements-dev.txt).
check-deploy: install-dev
	$(BIN)/python scripts/check_deploy.py

test-sqlite: install-dev
	$(BIN)/pytest

## test-postgres: the same suite against PostgreSQL ($(PG_URL)). Skips with a reason
## when it is unreachable; under CI=true an unreachable PostgreSQL is a failure.
test-postgres: install-dev
	@if $(BIN)/python scripts/service_up.py postgres "$(PG_URL)"; then \
		DATABASE_URL="$(PG_URL)" $(BIN)/pytest; \
	elif [ "$${CI:-}" = "true" ]; then \
		echo "FAIL: PostgreSQL at $(PG_URL) is unreachable, and CI must run the PostgreSQL suite"; exit 1; \
	else \
		echo "SKIP: PostgreSQL at $(PG_URL) is unreachable; the PostgreSQL suite did not run"; \
	fi

## drill: the original's load test (100 buyers, 60 s, 600-900 ms gateway) and the books.
drill: install-dev
	$(BIN)/python -m scripts.drill

## faults: crashes and outages (workers killed, Redis, PostgreSQL and the processor down,
## slow or failing) under load, each followed by the books against what buyers were told
## and the processor's ledger; its own services on 127.0.0.1; writes reports/faults.md.
## FAULTS_SECONDS (per phase) and FAULTS_PHASES (comma list) make a shorter run.
faults: install-dev
	$(BIN)/python -m scripts.faults

## security: an outside attack on the store with production settings, over HTTP on
## loopback (its own PostgreSQL 5492, Redis 6392, gunicorn 8793): schemathesis as each
## identity and the review's attacks (log-in guessing, other users' objects, odd input,
## races, ...); writes reports/security.md, exits 1 on any 5xx or finding.
security: install-dev
	$(BIN)/python -m scripts.security

## broker-drill: the store in broker mode on a RabbitMQ node of its own, broken while it
## sells (consumers and a relay killed, the broker stopped, a poison message); then the
## books. A few minutes; loopback only.
broker-drill: install-dev
	$(BIN)/python -m scripts.broker_drill

.PHONY: load bench
HOST     ?= http://127.0.0.1:8000
USERS    ?= 50
DURATION ?= 60s

## load: realistic shoppers (mostly browsing, some buying) from loadtests/locustfile.py,
## USERS of them against HOST for DURATION, headless; CSV and HTML reports in reports/.
load: install-dev
	@mkdir -p reports
	$(BIN)/locust -f loadtests/locustfile.py --headless --host "$(HOST)" \
		--users $(USERS) --spawn-rate $(or $(SPAWN_RATE),10) --run-time $(DURATION) \
		--stop-timeout 10 --only-summary --csv reports/load --html reports/load.html

## bench: requests per second of each endpoint class as a ratio of GET /healthz, on SQLite
## and PostgreSQL, 10,000 then 100,000 films; writes reports/bench.md. Then watching
## (`bench.py media`): the Watch page and 1 MiB Range requests sent by Django and by a
## private nginx (X-Accel-Redirect); writes reports/bench-media.md. It needs wrk and nginx,
## which it installs from Debian's packages when it may (as root, with apt-get).
bench: install-dev
	@{ command -v wrk && { command -v nginx || [ -x /usr/sbin/nginx ]; }; } >/dev/null || \
		[ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx; }
	$(BIN)/python -m scripts.bench
	$(BIN)/python -m scripts.bench media

.PHONY: history
## history: years of history (HISTORY_PURCHASES, default 10,000,000 purchases, with their
## payments, points and delivered events) in a PostgreSQL database of its own at
## 127.0.0.1:5432, kept between runs (`python -m scripts.history` --rebuild, --migrate, --drop);
## then every admin list, /metrics and a buyer's pages against a young store of 10,000
## purchases; writes reports/history.md.
history: install-dev
	$(BIN)/python -m scripts.history

.PHONY: pruning
## pruning: purchases while history retention deletes a backlog (issue 17): a PostgreSQL
## database of its own at 127.0.0.1:5432 (vodstore_pruning, dropped afterwards) with
## PRUNING_EVENTS (300,000) old delivered events; gunicorn and 4 buyers on 127.0.0.1, quiet,
## while `manage.py prune_history` runs, and after; each phase's p99, what was kept, the
## books; writes reports/pruning.md, exits 1 on a failure. A few minutes.
pruning: install-dev
	$(BIN)/python -m scripts.pruning

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .test-db*.sqlite3* .test-gateway-*.sqlite3*
