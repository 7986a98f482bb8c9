"""The footer of every page: what this render cost, and what sorl-thumbnail would have cost.

``RenderCostMiddleware`` counts the request (``gallery.counting``), then writes the footer
into the rendered HTML just before ``</body>``, so admin pages get it too.

sorl-thumbnail's ``cached_db`` key-value store is not installed here; its cost is
**computed** from the page, by what its code does for each thumbnail it is asked for: one
``cache.get(key)``, and when the cache does not have the key (a cold cache: a new process, an
expired or evicted key, a per-process cache on another worker), one ``SELECT ... FROM
thumbnail_kvstore WHERE key = %s``. On a hit it touches no storage. So for a page showing
``N`` distinct thumbnails (each one a ``get_thumbnail`` call or ``{% thumbnail %}`` tag in
sorl) it costs ``N`` cache round trips, plus ``N`` SQL queries when its cache is cold, on top
of the page's own queries (the forum thread's 120 queries were this).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from thumbkit.conf import get_settings

from .counting import Costs, counting, sql_counter

# thumbkit's own tables: the store's records and generation locks.
THUMBKIT_TABLE = re.compile(r"\bthumbkit_\w+", re.IGNORECASE)


@dataclass(frozen=True)
class SorlCost:
    """sorl-thumbnail ``cached_db``'s cost for the same page, computed (see the module)."""

    thumbnails: int
    page_sql: int

    @property
    def cold_sql(self) -> int:
        return self.page_sql + self.thumbnails

    @property
    def cache_round_trips(self) -> int:
        return self.thumbnails


def thumbnail_urls(html: str) -> set[str]:
    """The distinct thumbnail URLs in the page (``src`` and ``srcset`` alike)."""
    prefix = re.escape(f"{settings.MEDIA_URL}{get_settings().prefix}/")
    return set(re.findall(prefix + r"[^\s\"',<>]+", html))


def footer_html(costs: Costs, html: str) -> str:
    thumbkit_sql = sum(1 for sql in costs.sql if THUMBKIT_TABLE.search(sql))
    page_sql = len(costs.sql) - thumbkit_sql
    sorl = SorlCost(thumbnails=len(thumbnail_urls(html)), page_sql=page_sql)
    context = {
        "costs": costs,
        "thumbkit_sql": thumbkit_sql,
        "page_sql": page_sql,
        "sorl": sorl,
        # Lists, not the Counters: a template's lookup of "items" on a Counter gives 0.
        "storage_calls": sorted(costs.storage.items()),
        "locks": costs.store["lock"],
    }
    return render_to_string("gallery/footer.html", context)


class RenderCostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with counting() as costs, connection.execute_wrapper(sql_counter):
            response = self.get_response(request)
        if is_html_page(response):
            add_footer(response, costs)
        return response


def is_html_page(response: HttpResponse) -> bool:
    return (
        not response.streaming
        and response.status_code == 200
        and response.get("Content-Type", "").startswith("text/html")
    )


def add_footer(response: HttpResponse, costs: Costs) -> None:
    html = response.content.decode(response.charset)
    marker = html.rfind("</body>")
    if marker < 0:
        return
    html = html[:marker] + footer_html(costs, html) + html[marker:]
    response.content = html.encode(response.charset)
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
