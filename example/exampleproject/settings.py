"""Settings of the example site: the embedded default (SQLite, file storage, Pillow, db store).

``THUMBKIT_EXAMPLE_VAR`` moves the SQLite file and the media directory elsewhere (the browser
test gives each run its own); by default both live in ``example/var/``.

The store and the storage are thumbkit's defaults (the ``db`` store, ``FileSystemStorage``)
wrapped by ``gallery.counting`` so that the footer of every page can show what the render
cost; the wrapping counts calls and changes nothing else.
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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "thumbkit",
    "gallery",
]

MIDDLEWARE = [
    # First, so it sees the whole request: it counts everything below it.
    "gallery.footer.RenderCostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "example.sqlite3"},
}

STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

STORAGES = {
    # FileSystemStorage, counting its calls for the footer.
    "default": {"BACKEND": "gallery.counting.CountingFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

THUMBKIT = {
    # The db store (thumbkit's default), counting its round trips for the footer.
    "STORE": "gallery.counting.CountingDatabaseStore",
    "SPECS": {
        "small": {"size": "100x100", "crop": "center"},
        "card": {"size": "320x240", "crop": "center", "format": "webp", "quality": 80},
        "large": {"size": "960x720", "quality": 82},
    },
    # LIMITS are thumbkit's defaults (100 MP, 100 MiB, 300 frames, ...); the upload page
    # lists them as get_settings() reads them, so a LIMITS entry here would show there.
}

# The account `make example` creates (scripts/example.sh prints it): a local demo only.
EXAMPLE_ADMIN = ("admin", "thumbkit")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"thumbkit": {"handlers": ["console"], "level": "INFO"}},
}

# SQLite's file must have a directory to live in before the first connection.
VAR_DIR.mkdir(parents=True, exist_ok=True)
