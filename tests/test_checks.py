"""System checks on THUMBKIT (stable ids), and the settings accessor."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from tests.conftest import thumbkit_settings
from thumbkit import conf
from thumbkit.adapters import checks
from thumbkit.core.spec import Spec
from thumbkit.lookup.api import get_spec
from thumbkit.lookup.stores import get_store
from thumbkit.lookup.stores.cache import CacheStore
from thumbkit.lookup.stores.db import DatabaseStore


def ids(**changes: Any) -> list[str]:
    with thumbkit_settings(**changes):
        return [str(e.id) for e in checks.check_settings()]


def messages(**changes: Any) -> list[str]:
    with thumbkit_settings(**changes):
        return [str(e.msg) for e in checks.check_settings()]


def test_the_test_settings_are_valid() -> None:
    assert checks.check_settings() == []


def test_every_key_set_validly_gives_no_errors() -> None:
    full = {
        "STORAGE": "default",
        "STORE": "cache",
        "STORE_OPTIONS": {"cache": "redis"},
        "ON_STORE_ERROR": "raise",
        "STORE_FALLBACK": "source",
        "STORE_RETRY_AFTER": 2,
        "ENGINE": "thumbkit.core.engines.pillow.PillowEngine",
        "STRATEGY": "lazy",
        "DEFERRED_FALLBACK": "/static/wait.svg",
        "LIMITS": {
            "MAX_SOURCE_PIXELS": 50_000_000,
            "MAX_FRAMES": 10,
            "MAX_SOURCE_BYTES": None,
            "MAX_OUTPUT_SIDE": 2048,
            "MAX_OUTPUT_PIXELS": 2048 * 2048,
            "FORMATS": ["JPEG", "PNG"],
        },
        "SPECS": {"a": "100x100 crop", "b": {"size": "x50", "format": "webp", "quality": 70}},
        "PREFIX": "t",
        "NAMER": "source_name_as_path",
        "QUALITY": 80,
        "AVIF_SPEED": 6,
        "LOCK_TIMEOUT": 5,
        "FAILURE_TTL": 600,
        "PROGRESSIVE": False,
        "CACHE_CONTROL": "max-age=3600",
        "UPLOAD": "task",
        "TASK_BACKEND": "default",
        "TASK_QUEUE": "thumbs",
        "FORCE_SSL": True,
        "CACHE_BUSTER": "auto",
        "URL_DOMAIN": "https://cdn.example.com",
        "SIZES_ALLOWED": [320, "640", "800x600", "x200"],
        "METRICS": ["counters", "prometheus", "otel"],
    }
    with override_settings(THUMBKIT=full):
        assert checks.check_settings() == []
    assert set(full) == set(conf.DEFAULTS)  # the test covers every key there is
    assert set(checks.TYPES) == set(conf.DEFAULTS)  # and every key has its type checked


def test_an_unknown_namer_is_an_error() -> None:
    with thumbkit_settings(NAMER="nope.nothing"):
        found = checks.check_settings()
    assert [e.id for e in found] == ["thumbkit.E013"]
    assert "NAMER" in found[0].msg
    assert "source_name_as_path" in found[0].msg


def test_checks_are_registered_under_the_thumbkit_tag() -> None:
    with thumbkit_settings(STORAGE="nope", STRATEGY="eventually"):
        found = run_checks(tags=["thumbkit"])
    assert sorted(str(e.id) for e in found) == ["thumbkit.E002", "thumbkit.E008"]


def test_e001_unknown_keys() -> None:
    assert ids(STORGE="default") == ["thumbkit.E001"]
    assert "'STORGE'" in messages(STORGE="default")[0]
    assert ids(LIMITS={"MAX_PIXELS": 10, "MAX_FRAMES": 3}) == ["thumbkit.E001"]
    assert "'MAX_PIXELS'" in messages(LIMITS={"MAX_PIXELS": 10})[0]


def test_e002_storage_alias() -> None:
    assert ids(STORAGE="thumbs") == ["thumbkit.E002"]
    storages = {"default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    with override_settings(STORAGES={**storages, "thumbs": storages["default"]}):
        assert ids(STORAGE="thumbs") == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("STORE", "mongo", ["thumbkit.E003"]),
        ("STORE", "thumbkit.lookup.stores.nosuch.Store", ["thumbkit.E003"]),
        ("STORE", "thumbkit.lookup.stores.db.NoSuchStore", ["thumbkit.E003"]),
        ("STORE", "thumbkit.lookup.stores.db.DatabaseStore", []),
        ("STORE", "redis", []),
        ("ENGINE", "imagemagick", ["thumbkit.E004"]),
        ("ENGINE", "thumbkit.core.engines.pillow.Nope", ["thumbkit.E004"]),
        ("ENGINE", "thumbkit.core.engines.pillow.PillowEngine", []),
    ],
)
def test_e003_e004_unknown_store_or_engine(key: str, value: str, expected: list[str]) -> None:
    assert ids(**{key: value}) == expected


def test_e004_engine_module_that_fails_on_import(monkeypatch: Any, tmp_path: Path) -> None:
    (tmp_path / "broken_engine.py").write_text("raise RuntimeError('half installed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    [error] = messages(ENGINE="broken_engine.Engine")
    assert "half installed" in error
    assert ids(ENGINE="broken_engine.Engine") == ["thumbkit.E004"]


def test_vips_engine_checks_clean_when_pyvips_is_installed() -> None:
    if importlib.util.find_spec("pyvips") is None:
        pytest.skip("pyvips is not installed")
    assert ids(ENGINE="vips") == []


@pytest.mark.parametrize(
    ("key", "value", "package"), [("STORE", "redis", "redis"), ("ENGINE", "vips", "pyvips")]
)
def test_e005_missing_extra(monkeypatch: Any, key: str, value: str, package: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name.split(".")[0] == package else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with thumbkit_settings(**{key: value}):
        [error] = checks.check_settings()
    assert error.id == "thumbkit.E005"
    assert package in error.msg
    assert error.hint == f"pip install 'django-thumbkit[{value}]'"


@pytest.mark.parametrize(
    "specs",
    [
        {"bad": "100y100"},
        {"nosize": {"crop": "center"}},
        {"badopt": {"size": "10x10", "zoom": 2}},
        {"badcrop": {"size": "10x10", "crop": "sideways"}},
        {"alias": "other", "other": "10x10"},
        {"wrongtype": 100},
    ],
)
def test_e006_invalid_named_spec(specs: dict[str, Any]) -> None:
    assert ids(SPECS=specs) == ["thumbkit.E006"]
    assert repr(next(iter(specs))) in messages(SPECS=specs)[0]


def test_e007_cache_alias() -> None:
    assert ids(STORE="cache", STORE_OPTIONS={"cache": "nope"}) == ["thumbkit.E007"]
    assert ids(STORE="cache", STORE_OPTIONS={"cache": "redis"}) == []
    assert ids(STORE="cache") == []  # "default" exists


def test_e008_unknown_strategy() -> None:
    assert ids(STRATEGY="eventually") == ["thumbkit.E008"]
    assert ids(STRATEGY="lazy") == []


@pytest.mark.parametrize(
    "changes",
    [
        {"QUALITY": "85"},
        {"QUALITY": True},
        {"QUALITY": 0},
        {"QUALITY": 101},
        {"AVIF_SPEED": 11},
        {"LOCK_TIMEOUT": "30"},
        {"LOCK_TIMEOUT": 0},
        {"PROGRESSIVE": "yes"},
        {"STORE_OPTIONS": "redis://"},
        {"SPECS": ["small"]},
        {"LIMITS": {"MAX_FRAMES": "10"}},
        {"LIMITS": {"MAX_SOURCE_PIXELS": -1}},
        {"LIMITS": {"FORMATS": "JPEG"}},
        {"LIMITS": 100},
        {"PREFIX": None},
        {"FAILURE_TTL": "1h"},
        {"FAILURE_TTL": -1},
    ],
)
def test_e009_wrong_types(changes: dict[str, Any]) -> None:
    assert ids(**changes) == ["thumbkit.E009"]


def test_e009_thumbkit_not_a_dict() -> None:
    with override_settings(THUMBKIT=["STORE", "db"]):
        assert [e.id for e in checks.check_settings()] == ["thumbkit.E009"]


def test_several_errors_are_all_reported() -> None:
    assert sorted(ids(STORAGE="nope", STORE="mongo", STRATEGY="x", SPECS={"a": "b"})) == [
        "thumbkit.E002",
        "thumbkit.E003",
        "thumbkit.E006",
        "thumbkit.E008",
    ]


# --- the settings accessor ---------------------------------------------------------------


def test_settings_accessor_follows_override_settings() -> None:
    before = conf.get_settings()
    assert conf.get_settings() is before  # cached
    assert before.quality == 85
    with thumbkit_settings(QUALITY=60, LIMITS={"MAX_FRAMES": 2}):
        inside = conf.get_settings()
        assert (inside.quality, inside.limits.max_frames) == (60, 2)
        assert inside.limits.max_output_side == conf.DEFAULT_LIMITS["MAX_OUTPUT_SIDE"]
    after = conf.get_settings()
    assert (after.quality, after.limits.max_frames) == (85, conf.DEFAULT_LIMITS["MAX_FRAMES"])


def test_named_specs_and_store_follow_settings_changes() -> None:
    assert get_spec("small") == Spec(100, 100, crop="50%,50%")
    assert isinstance(get_store(), DatabaseStore)
    with thumbkit_settings(SPECS={"small": "40x30"}, STORE="cache"):
        assert get_spec("small") == Spec(40, 30)
        assert isinstance(get_store(), CacheStore)
    assert get_spec("small") == Spec(100, 100, crop="50%,50%")
    assert isinstance(get_store(), DatabaseStore)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"UPLOAD": "later"}, "'later' is unknown"),
        ({"UPLOAD": "task", "TASK_BACKEND": "celery"}, "'celery' is not an alias in TASKS"),
    ],
)
def test_upload_mode_and_task_backend_are_checked(changes: dict[str, str], needle: str) -> None:
    with override_settings(THUMBKIT=changes):
        errors = checks.check_settings()
    assert [e.id for e in errors] == ["thumbkit.E012"]
    assert needle in errors[0].msg


def test_upload_task_without_a_tasks_framework_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    missing = {"django.tasks", "django_tasks"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in missing else real(name, *a)
    )
    with override_settings(THUMBKIT={"UPLOAD": "task"}):
        errors = checks.check_settings()
    assert [e.id for e in errors] == ["thumbkit.E012"]
    assert "Tasks framework" in errors[0].msg
