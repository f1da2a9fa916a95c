"""Settings for the test suite: the real settings, with a throwaway secret, a fast
password hasher and a file-backed SQLite test database (so races with real threads
meet the same locking a deployment does)."""

import os

from django.core.management.utils import get_random_secret_key

os.environ.setdefault("SECRET_KEY", get_random_secret_key() + get_random_secret_key())
os.environ.setdefault("SECURE_HTTPS", "false")

from vodstore.settings import *  # noqa: F403
from vodstore.settings import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# mail.outbox, never a real server (a test that wants one overrides this)
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # one file per test process, so that concurrent runs never share (and corrupt) it
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}

# the simulated processor's books: one file per test process too
PAYMENT_SIMULATED_LEDGER = BASE_DIR / f".test-gateway-{os.getpid()}.sqlite3"
