# The store as a container: gunicorn, static files collected, a non-root user.
# Configure with the environment: SECRET_KEY, DATABASE_URL, CACHE_URL, ALLOWED_HOSTS.
# Migrations run as a release step: `docker run --rm IMAGE python manage.py migrate`.
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
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin vodstore \
 && chown -R vodstore /app/staticfiles

USER vodstore

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"

CMD ["gunicorn", "vodstore.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--workers", "3", "--threads", "4", "--access-logfile", "-"]
