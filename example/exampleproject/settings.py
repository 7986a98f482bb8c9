"""Settings of the example site: the embedded default (SQLite, file storage, Pillow, db store).

``THUMBKIT_EXAMPLE_VAR`` moves the SQLite file and the media directory elsewhere (the browser
test gives each run its own); by default both live in ``example/var/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = EXAMPLE_DIR.parent

# The site shows the thumbkit of this checkout, installed or not.
if str(REPO_DIR / "src") not in sys.path:
    sys.path.insert(0, str(REPO_DIR / "src"))

VAR_DIR = Path(os.environ.get("THUMBKIT_EXAMPLE_VAR") or EXAMPLE_DIR / "var")

SECRET_KEY = "thumbkit-example-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "thumbkit",
    "gallery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "example.sqlite3"},
}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

THUMBKIT = {
    "SPECS": {
        "small": {"size": "100x100", "crop": "center"},
        "card": {"size": "320x240", "crop": "center", "format": "webp", "quality": 80},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"thumbkit": {"handlers": ["console"], "level": "INFO"}},
}

# SQLite's file must have a directory to live in before the first connection.
VAR_DIR.mkdir(parents=True, exist_ok=True)
