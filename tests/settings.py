"""Settings for thumbkit's own tests. Services: SQLite, PostgreSQL and Redis on localhost."""

from __future__ import annotations

import os
import sys
import tempfile
from importlib.util import find_spec

SECRET_KEY = "thumbkit-tests"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.urls"
# One name per interpreter, so the 3.11 and 3.12 runs never share a test database.
RUN_ID = f"py{sys.version_info.major}{sys.version_info.minor}"
# Made once per test run; child processes (spawned pools) inherit it through the environment.
if "THUMBKIT_TEST_MEDIA" not in os.environ:
    os.environ["THUMBKIT_TEST_MEDIA"] = tempfile.mkdtemp(prefix="thumbkit-media-")
MEDIA_ROOT = os.environ["THUMBKIT_TEST_MEDIA"]
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "thumbkit",
    "tests.testapp",
]

# The database task backend, for the upload-task tests: it runs on django.tasks (Django 6)
# or on the django_tasks backport (Django 5.2); without either it cannot be imported.
if find_spec("django_tasks_db") and (find_spec("django.tasks") or find_spec("django_tasks")):
    INSTALLED_APPS.append("django_tasks_db")

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(MEDIA_ROOT, "db.sqlite3"),
    },
    "pg": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": f"thumbkit_{RUN_ID}",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        # Per process too: two test runs at once must not share (and drop) one database.
        "TEST": {"NAME": f"test_thumbkit_{RUN_ID}_{os.getpid()}"},
    },
}

REDIS_URL = os.environ.get("THUMBKIT_TEST_REDIS", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"thumbkit-test-{RUN_ID}",
    },
}

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "debug": True,
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# What the admin needs (tests/test_admin.py, tests/browser/test_admin_browser.py).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
STATIC_URL = "/static/"

THUMBKIT = {
    "SPECS": {
        "small": {"size": "100x100", "crop": "center"},
        "card": {"size": "320x240", "crop": "center", "format": "webp", "quality": 80},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"thumbkit": {"level": "WARNING"}},
}
