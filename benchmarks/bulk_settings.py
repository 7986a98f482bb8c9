"""Settings of the bulk generation benchmark's processes (``benchmarks/bulk.py``).

Everything that varies comes from the environment the driver sets: the media directory,
the library under test and the Redis key prefix of this run.
"""

from __future__ import annotations

import os

SECRET_KEY = "thumbkit-bench-bulk"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
MEDIA_ROOT = os.environ.get("BULK_MEDIA", "/tmp/thumbkit-bench-bulk")
MEDIA_URL = "/media/"
LIB = os.environ.get("BULK_LIB", "thumbkit")
INSTALLED_APPS = ["django.contrib.contenttypes", LIB]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(MEDIA_ROOT, f"{LIB}.sqlite3"),
    }
}
REDIS_URL = os.environ.get("THUMBKIT_BENCH_REDIS", "redis://127.0.0.1:6379/12")
PREFIX = os.environ.get("BULK_PREFIX", "thumbkit-bench-bulk:")
# thumbkit's records in Redis: the worker processes share them with the parent.
THUMBKIT = {"STORE": "redis", "STORE_OPTIONS": {"url": REDIS_URL, "prefix": PREFIX}}
# imagekit: its cache-file state in the same Redis, like a deployment with several servers.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": PREFIX,
    }
}

# The S3 section: sources and thumbnails on S3Storage at tests/s3.py's endpoint (moto behind
# the counting proxy), "<endpoint url> <bucket>".
if os.environ.get("BULK_S3"):
    from tests.s3 import ACCESS_KEY, REGION, client_config
    from tests.s3 import SECRET_KEY as S3_SECRET

    _url, _bucket = os.environ["BULK_S3"].split()
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _bucket,
                "endpoint_url": _url,
                "region_name": REGION,
                "access_key": ACCESS_KEY,
                "secret_key": S3_SECRET,
                "querystring_auth": False,
                "client_config": client_config(),
            },
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
