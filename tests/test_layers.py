"""The import graph of ``src/thumbkit`` has layers with one direction and no cycle.

Every ``import`` and ``from ... import`` counts: module level, inside functions, relative or
absolute; ``from . import name`` counts as an import of the submodule ``name`` when there is
one. An import under ``if TYPE_CHECKING:`` counts for the layers (a lower layer names no
type of a higher one) but not for cycles: it never runs, so it cannot make one. The layer
table below is also written down in docs/architecture.md: keep the two the same.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src" / "thumbkit"

BASE, PIXEL, LOOKUP, ADAPTER = 0, 1, 2, 3
LAYER_NAMES = {BASE: "base", PIXEL: "pixel core", LOOKUP: "lookup", ADAPTER: "Django adapters"}

# Module (without the "thumbkit." prefix; "" is the package itself) -> layer. A lower layer
# never imports a higher one. A package's entry covers its submodules unless they have their own.
LAYERS: dict[str, int] = {
    # base: settings, errors and signals, which every layer may use
    "conf": BASE,
    "exceptions": BASE,
    "signals": BASE,
    # pixel core: what a thumbnail looks like and how its pixels are made; no ORM, no templates
    "core": PIXEL,  # thumbkit/core/: every module in it
    "optimize": PIXEL,
    "processors": PIXEL,
    # lookup: sources, keys and names, records, metadata stores, strategies, generation, the API
    "lookup": LOOKUP,  # thumbkit/lookup/: every module in it
    "models": LOOKUP,  # the db store's table: stores.db needs it
    # Django adapters: model fields, forms, templates, admin, views, tasks, checks, commands
    "adapters": ADAPTER,  # thumbkit/adapters/: every module in it
    "": ADAPTER,  # thumbkit/__init__.py re-exports the public API, ThumbnailQuerySet included
    "fields": ADAPTER,
    "forms": ADAPTER,
    "validators": ADAPTER,
    "utils": ADAPTER,
    "templatetags": ADAPTER,
    "admin": ADAPTER,
    "urls": ADAPTER,
    "tasks": ADAPTER,
    "apps": ADAPTER,
    "management": ADAPTER,
    "migrations": ADAPTER,
    "drf": ADAPTER,  # Django REST framework fields: imported by users' serializers
}

# Imports not yet removed, each with its reason. The test fails on any import outside this
# list that goes up a layer or closes a cycle, and on an entry here that no longer exists.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}

# The pixel core must not pull in Django's model, form, template or request machinery.
PIXEL_FORBIDDEN = (
    "django.db",
    "django.template",
    "django.forms",
    "django.contrib",
    "django.http",
    "django.urls",
    "django.views",
    "django.apps",
)


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["thumbkit", *parts])] = path
    return found


MODULES = _modules()


def _targets(node: ast.Import | ast.ImportFrom, name: str, path: pathlib.Path) -> Iterator[str]:
    """The absolute module names one import statement imports."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    for alias in node.names:
        sub = f"{module}.{alias.name}"
        yield sub if sub in MODULES else module


def _owner(target: str) -> str | None:
    """The thumbkit module ``target`` is, or is inside of (``thumbkit.x.Y`` -> ``thumbkit.x``)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the import statements under ``if TYPE_CHECKING:`` (never run)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        named = getattr(test, "id", None) or getattr(test, "attr", None)
        if isinstance(node, ast.If) and named == "TYPE_CHECKING":
            for stmt in node.body:
                found.update(id(n) for n in ast.walk(stmt))
    return found


def _imports() -> dict[str, dict[str, set[str]]]:
    """module -> "thumbkit": {thumbkit module}, "runtime": those imported by code that runs,
    "other": {non-thumbkit module}."""
    graph: dict[str, dict[str, set[str]]] = {}
    for name, path in MODULES.items():
        ours: set[str] = set()
        runtime: set[str] = set()
        other: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = _type_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(node, name, path):
                owner = _owner(target) if target.split(".")[0] == "thumbkit" else None
                if owner is not None and owner != name:
                    ours.add(owner)
                    if id(node) not in type_only:
                        runtime.add(owner)
                elif owner is None:
                    other.add(target)
        graph[name] = {"thumbkit": ours, "runtime": runtime, "other": other}
    return graph


GRAPH = _imports()


def layer_of(module: str) -> int:
    rel = module.removeprefix("thumbkit").removeprefix(".")
    while rel not in LAYERS:
        if "." not in rel:  # no fallback to "" (the package): a new module needs its own entry
            raise KeyError(module)
        rel = rel.rpartition(".")[0]
    return LAYERS[rel]


def _short(module: str) -> str:
    return module.removeprefix("thumbkit.")


def _edges(kind: str = "thumbkit") -> set[tuple[str, str]]:
    return {(_short(a), _short(b)) for a, imp in GRAPH.items() for b in imp[kind]}


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in succ.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(succ):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_every_module_and_function_level_imports() -> None:
    # The walk itself: if it missed function-level or relative imports, the test below
    # would pass for nothing. These edges are in the source today.
    assert len(MODULES) >= 78
    edges = _edges()
    assert ("lookup.api", "lookup.batch") in edges  # module level, relative
    assert ("apps", "adapters.checks") in edges  # ``from .adapters import checks`` inside ready()
    assert (
        "templatetags.thumbkit",
        "adapters.tags.thumbnail",
    ) in edges  # ``from ..adapters.tags import x``
    # ``if TYPE_CHECKING: from .fields import ImageField``: a layer edge, not a cycle edge
    assert ("adapters.lifecycle", "fields") in edges - _edges("runtime")
    assert ("adapters.lifecycle", "adapters.peers") in _edges("runtime")


def test_every_module_has_a_layer() -> None:
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError:
            missing.append(module)
    assert missing == [], f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def test_no_import_goes_up_a_layer() -> None:
    upward = sorted(
        f"{a} ({LAYER_NAMES[layer_of(a)]}) -> {b} ({LAYER_NAMES[layer_of(b)]})"
        for a, b in _edges() - set(KNOWN_UPWARD)
        if layer_of(a) < layer_of(b)
    )
    assert upward == [], "imports from a lower layer into a higher one:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    cycles = _cycles(_edges("runtime") - set(KNOWN_UPWARD))
    assert cycles == [], f"import cycles among thumbkit modules: {cycles}"


def test_known_upward_imports_still_exist() -> None:
    # An entry whose import is gone must leave the list, so the list only shrinks.
    stale = sorted(set(KNOWN_UPWARD) - _edges())
    assert stale == [], f"remove these from KNOWN_UPWARD: {stale}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) <= PIXEL))
def test_pixel_core_imports_no_django_model_or_template_machinery(module: str) -> None:
    bad = sorted(m for m in GRAPH[module]["other"] if m.startswith(PIXEL_FORBIDDEN))
    assert bad == []


def test_the_checker_catches_an_upward_import_and_a_cycle() -> None:
    # The checks above, on a made-up graph: a cycle and an upward edge are both reported.
    assert _cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert _cycles({("a", "b"), ("b", "c")}) == []
    assert layer_of("thumbkit.core.spec") < layer_of("thumbkit.fields")
    assert layer_of("thumbkit.core.engines.vips") == PIXEL
    assert layer_of("thumbkit.management.commands.thumbkit_repair") == ADAPTER


def test_ready_fills_every_hook() -> None:
    # The lookup layer asks the adapters through thumbkit.lookup.hooks; AppConfig.ready() answers.
    from thumbkit.adapters import endpoint, peers
    from thumbkit.lookup import api, generators, hooks

    assert hooks.peer_sources is peers.peer_sources
    assert hooks.signed_record is endpoint.signed_record
    assert hooks.spec_from_text is api.get_spec
    assert hooks.image_spec_class is generators.ImageSpec
    assert hooks.thumbnail_enqueuer is not hooks.not_ready
    assert hooks.field_thumbnails_enqueuer is not hooks.not_ready


# The tree shows the layers: a module inside one of these packages is in the package's layer.
# Only the base and the modules whose import paths are a contract (user code and settings,
# migrations, queued tasks, thumbnail keys) or that Django finds by name stay at the top.
PACKAGE_LAYERS = {"core": PIXEL, "lookup": LOOKUP, "adapters": ADAPTER}
TOP_LEVEL = {
    "",
    "admin",
    "apps",
    "fields",
    "forms",
    "management",
    "migrations",
    "models",
    "optimize",
    "processors",
    "tasks",
    "templatetags",
    "urls",
    "utils",
    "validators",
    "drf",
}


def test_the_tree_shows_the_layers() -> None:
    wrong = []
    for module in MODULES:
        top = module.removeprefix("thumbkit").removeprefix(".").split(".")[0]
        layer = layer_of(module)
        if top in PACKAGE_LAYERS and layer != PACKAGE_LAYERS[top]:
            wrong.append(f"{module} is {LAYER_NAMES[layer]} but sits in thumbkit/{top}/")
        elif top not in PACKAGE_LAYERS and layer != BASE and top not in TOP_LEVEL:
            wrong.append(f"{module} ({LAYER_NAMES[layer]}) sits at the top of thumbkit/")
    assert wrong == [], "move these modules into the package of their layer:\n" + "\n".join(wrong)
    assert all(any(m.startswith(f"thumbkit.{p}.") for m in MODULES) for p in PACKAGE_LAYERS)
