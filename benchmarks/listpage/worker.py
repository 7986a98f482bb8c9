"""One list-page worker process: ``python -m benchmarks.listpage.worker '<json job>'``.

Jobs (``action``):

- ``setup``: create the library's database and tables, insert ``env.rows`` profiles.
- ``warm``: make every thumbnail of one configuration, then check that a second render
  writes nothing.
- ``fresh``: time the first render of one page in this new process (stores warm, process
  caches empty; the template is compiled and the database connected beforehand).
- ``warm-process``: time repeated renders of each page in one process.

The timed unit is a request's worth of work: build the paginator page (COUNT + rows
queries), evaluate it and render the template.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..common import (
    PG,
    Counting,
    CountingStorage,
    Env,
    base_settings,
    configure,
    emit,
    median,
)
from .base import FLOOR_TEMPLATE, PHOTO_SIZE, Library, floor_model

LIBRARIES = ("floor", "thumbkit", "sorl", "easy", "imagekit")


def library(name: str) -> Library:
    module = importlib.import_module(f"benchmarks.listpage.lib_{name}")
    lib: Library = module.LIBRARY
    return lib


def settings_for(lib: Library, config: str, env: Env) -> dict[str, Any]:
    settings = base_settings(env, lib.name)
    extra = dict(lib.settings(config, env))
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], *extra.pop("APPS", [])]
    for alias in extra.pop("STORAGE_ALIASES", []):
        settings["STORAGES"][alias] = settings["STORAGES"]["default"]
    settings.update(extra)
    return settings


def recreate_database(env: Env, name: str) -> None:
    dbname = base_settings(env, name)["DATABASES"]["default"]["NAME"]
    if env.db != "postgres":
        Path(dbname).unlink(missing_ok=True)
        return
    import psycopg

    dsn = f"host={PG['HOST']} port={PG['PORT']} user={PG['USER']} dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')


class Page:
    """Renders one library's page for a configuration."""

    def __init__(self, lib: Library, config: str) -> None:
        from django.conf import settings
        from django.template import engines

        self.lib, self.config = lib, config
        self.models = lib.models()
        self.model = self.models[lib.model_for(config)]
        self.floor = floor_model()
        self.engine = engines["django"]
        self.compiled: dict[str, Any] = {}
        self.floor_template = self.engine.from_string(FLOOR_TEMPLATE)
        media = Path(str(settings.MEDIA_ROOT))
        self.thumbs = str(media / lib.thumbs) if lib.thumbs else str(media / "-")

    def template(self, name: str) -> Any:
        if name not in self.compiled:
            self.compiled[name] = self.engine.from_string(self.lib.template_text(name))
        return self.compiled[name]

    def render(self, name: str, rows: int) -> str:
        from django.core.paginator import Paginator

        template = self.template(name)
        page = Paginator(self.model.objects.order_by("pk"), rows).page(1)
        html: str = template.render({"page": page})
        return html

    def floor_time(self, rows: int) -> float:
        """One render of the floor page in this process (the worker interleaves it)."""
        from django.core.paginator import Paginator

        start = time.perf_counter()
        page = Paginator(self.floor.objects.order_by("pk"), rows).page(1)
        self.floor_template.render({"page": page})
        return time.perf_counter() - start

    def timed(self, name: str, rows: int) -> tuple[float, Counting, str]:
        with Counting() as counting:
            start = time.perf_counter()
            html = self.render(name, rows)
            elapsed = time.perf_counter() - start
        return elapsed, counting, html


def check(html: str, rows: int, made: int = 0) -> str:
    """'ok', or what is wrong with the page (a library that failed quietly, or a cold store)."""
    images = html.count("<img ")
    if images != 2 * rows:
        return f"{images} <img> for {rows} rows"
    if 'src=""' in html or 'width=""' in html:
        return "empty src or width"
    if made:
        return f"{made} files made during the render: the store was not warm"
    return "ok"


def setup(lib: Library, env: Env) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    recreate_database(env, lib.name)
    call_command("migrate", verbosity=0)
    page = Page(lib, next(iter(lib.configs)))
    tables = {**page.models, "FloorProfile": page.floor}
    if page.floor in page.models.values():  # the floor library itself
        del tables["FloorProfile"]
    with connection.schema_editor() as editor:
        for model in tables.values():
            editor.create_model(model)
    for model_name, model in tables.items():
        folder = lib.photo_dir(model_name)
        model.objects.bulk_create(
            model(
                name=f"Person {n}",
                photo=f"{folder}/{n:04d}.jpg",
                photo_width=PHOTO_SIZE[0],
                photo_height=PHOTO_SIZE[1],
            )
            for n in range(1, env.rows + 1)
        )
    return {"models": list(page.models)}


def files_in(folder: str) -> int:
    """Files under a folder: a render that adds thumbnails has generated them."""
    return sum(len(names) for _, _, names in os.walk(folder))


def warm(lib: Library, config: str, rows: int) -> dict[str, Any]:

    page = Page(lib, config)
    thumbs = page.thumbs
    start = time.perf_counter()
    lib.warm(config, lambda template: page.render(template, rows))
    made = time.perf_counter() - start
    lib.prepare(config)
    problems = {}
    for name in lib.templates_for(config):
        before = files_in(thumbs)
        _, _, html = page.timed(name, rows)
        status = check(html, rows, files_in(thumbs) - before)
        if status != "ok":
            problems[name] = status
    return {"seconds": round(made, 2), "problems": problems}


def fresh(lib: Library, config: str, template: str, rows: int) -> dict[str, Any]:
    from django.db import connection

    page = Page(lib, config)
    thumbs = page.thumbs
    page.template(template)
    lib.prepare(config)
    connection.ensure_connection()
    before = files_in(thumbs)
    gc.collect()
    elapsed, counting, html = page.timed(template, rows)
    made = files_in(thumbs) - before
    return sample(template, rows, "fresh", [elapsed], counting, check(html, rows, made))


def warm_process(
    lib: Library, config: str, rows_list: list[int], runs: int, budget: float
) -> list[dict[str, Any]]:

    page = Page(lib, config)
    thumbs = page.thumbs
    lib.prepare(config)
    results = []
    for template in lib.templates_for(config):
        for rows in rows_list:
            page.render(template, rows)  # the first render of a page is not timed here
            page.floor_time(rows)
            before = files_in(thumbs)
            times: list[float] = []
            floor: list[float] = []
            deadline = time.perf_counter() + budget
            while len(times) < runs and (len(times) < 3 or time.perf_counter() < deadline):
                # Floor and library alternate, so a change in machine load hits both.
                floor.append(page.floor_time(rows))
                elapsed, counting, html = page.timed(template, rows)
                times.append(elapsed)
            status = check(html, rows, files_in(thumbs) - before)
            result = sample(template, rows, "warm", times, counting, status)
            results.append({**result, "floor_times": floor, "floor_median": median(floor)})
    return results


def sample(
    template: str, rows: int, mode: str, times: list[float], counting: Counting, status: str
) -> dict[str, Any]:
    counts = counting.counts
    return {
        "template": template,
        "rows": rows,
        "mode": mode,
        "times": times,
        "median": median(times),
        "queries": counts.queries,
        "redis_commands": counts.redis_commands,
        "redis_round_trips": counts.redis_round_trips,
        "storage_io": counts.storage_io,
        "storage": counts.storage,
        "check": status,
    }


def main(job: dict[str, Any]) -> None:
    env = Env.from_json(json.dumps(job["env"]))
    lib = library(job["lib"])
    config = job.get("config") or next(iter(lib.configs))
    configure(settings_for(lib, config, env))
    CountingStorage.calls.clear()
    action = job["action"]
    if action == "setup":
        emit(setup(lib, env))
    elif action == "warm":
        emit(warm(lib, config, env.rows))
    elif action == "fresh":
        emit(fresh(lib, config, job["template"], job["rows"]))
    elif action == "warm-process":
        for result in warm_process(lib, config, job["rows"], job["runs"], job["budget"]):
            emit(result)
    else:
        raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
