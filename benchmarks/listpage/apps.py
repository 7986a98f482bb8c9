"""The app that owns the benchmark's ``Profile`` tables (models are built per library)."""

from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchmarks.listpage"
    label = "bench"
    default_auto_field = "django.db.models.BigAutoField"
