# The store as a container: one image for every process of a deployment, static files
# collected, run as the non-root user 10001. The default command is the web server
# (gunicorn on port 8000; GET /healthz is liveness, GET /readyz readiness); the other
# processes are the same image with another command:
#   python manage.py migrate --no-input              one-shot release step, before web
#   python manage.py outbox_worker                   relay (outbox to RabbitMQ) and payment
#                                                    reconciler; several may run
#   python manage.py consume_events --group mileage  consumers, one Deployment per app,
#   python manage.py consume_events --group payment  any number of replicas each
# Configure with the environment: SECRET_KEY, DATABASE_URL, CACHE_URL, EVENT_BROKER_URL,
# ALLOWED_HOSTS, ... (deploy/env.production.example lists them). compose.yaml and
# deploy/k8s/ run these processes; `make check-deploy` lints this file with hadolint.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic needs settings to load; a throwaway key exists only for this step.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    python manage.py collectstatic --no-input \
 && groupadd --system --gid 10001 vodstore \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin vodstore \
 && mkdir -p /app/media \
 && chown -R 10001:10001 /app/staticfiles /app/media

# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# Liveness of the web process. Django answers only the host names in ALLOWED_HOSTS, so
# the check sends "Host: localhost": keep localhost in ALLOWED_HOSTS (the deploy files
# do). Worker containers (relay, consumers) serve no HTTP: their compose services and
# Kubernetes pods turn this check off or ignore it.
HEALTHCHECK --interval=30s --timeout=3s \
  CMD ["python", "-c", "import urllib.request as r; r.urlopen(r.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=2)"]

CMD ["gunicorn", "vodstore.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--workers", "3", "--threads", "4", "--access-logfile", "-"]
