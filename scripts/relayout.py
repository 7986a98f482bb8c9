#!/usr/bin/env python3
"""Move thumbkit's flat modules into layer packages, and rewrite every reference to them.

Issue 10 point 1: the file tree shows the layers. Run from a checkout (``python
scripts/relayout.py``; ``--dry-run`` prints the plan and every rename hit, writes nothing):

- each top-level module of ``src/thumbkit`` goes (``git mv``) into the package of its layer,
  read at run time from ``LAYERS`` in tests/test_layers.py: pixel core -> ``thumbkit/core/``,
  lookup -> ``thumbkit/lookup/``, Django adapters -> ``thumbkit/adapters/``. A module with no
  layer stops the script before anything is written. The base layer (conf, exceptions,
  signals), the Django app's own files and the public contract modules stay at the top
  (``KEEP``: their import paths are named by users' code, settings, migrations, queued tasks
  or thumbnail keys);
- imports are rewritten in every tracked ``.py`` file (relative ones recomputed for the new
  location, ``from thumbkit import api, fields`` split by package), and dotted paths
  (``thumbkit.stores.redis.RedisStore``, ``mock.patch("thumbkit.api.x")``) and file paths
  (``src/thumbkit/api.py``) in every tracked text file (code, strings, comments, docs,
  mkdocs.yml, pyproject.toml);
- ``import_module(f"thumbkit.{package}")`` helpers get their callers' literal re-pointed
  (``_registry("stores", ...)`` -> ``"lookup.stores"``); other dynamic paths are reported;
- duplicate public names get names that say what they are (``RENAMES``): the definition and
  its uses in its module, ``from ... import`` of it, module-qualified uses (``batch.load``,
  ``"thumbkit.lookup.batch.load"``) and ``setattr(batch, "load", ...)`` everywhere;
- comment and docstring lines the rewrite made longer than 100 characters are re-wrapped;
  docs/changelog.md gets an entry under the unreleased version;
- tests/test_layers.py gets a ``LAYERS`` table keyed by the new paths and a test that the tree
  shows the layers; docs/architecture.md gets the new layer table and the file tree;
- ``ruff check --select I --fix`` and ``ruff format`` tidy the rewritten Python files.

Idempotent: on a tree with no flat module left to move it prints so and changes nothing.
Standard library only (ruff is run as a program if it is found).
"""

from __future__ import annotations

import argparse
import ast
import io
import pathlib
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

BASE, PIXEL, LOOKUP, ADAPTER = 0, 1, 2, 3
LAYER_CONSTANTS = {"BASE": BASE, "PIXEL": PIXEL, "LOOKUP": LOOKUP, "ADAPTER": ADAPTER}
PACKAGES = {PIXEL: "core", LOOKUP: "lookup", ADAPTER: "adapters"}
PACKAGE_DOCS = {
    "core": "The pixel core: what a thumbnail looks like and how its pixels are made.\n\n"
    "No Django model, ORM, form, template or request machinery (tests/test_layers.py).",
    "lookup": "The lookup layer: sources, keys and names, records, metadata stores, strategies,\n"
    "generation and the API.\n\n"
    "It never imports the adapters; it asks them through ``thumbkit.lookup.hooks``.",
    "adapters": "The Django adapters behind the contract modules: field machinery, template\n"
    "tags, forms helpers, the on-demand view, checks and the bulk and repair jobs.",
}

# Stays at the top of the package, whatever its layer: the Django app's own files (found by
# Django by these names) and the public contract modules, whose import paths are named by
# users' code and settings (fields, forms, admin, urls), by migrations (fields, validators:
# ``ImageLimitsValidator`` deconstructs to ``thumbkit.validators``), by queued tasks (tasks)
# or inside thumbnail keys (processors, optimize: a post-processor's canonical text is its
# class path, so moving it would rename every thumbnail that uses one).
KEEP = {
    "__init__",
    "apps",
    "conf",
    "exceptions",
    "signals",
    "models",
    "migrations",
    "management",
    "templatetags",
    "fields",
    "forms",
    "admin",
    "urls",
    "tasks",
    "validators",
    "processors",
    "utils",  # imagekit's imagekit.utils counterpart (get_field_info), named in the imagekit guide
    "optimize",
}

# (module after the move, old name) -> new name: no two public things share a name.
RENAMES = {
    ("thumbkit.lookup.batch", "load"): "load_records",
    ("thumbkit.lookup.refs", "load"): "spec_from_ref",
    ("thumbkit.adapters.bulk", "Report"): "RunReport",
    ("thumbkit.adapters.bulk", "Failure"): "ItemFailure",
    ("thumbkit.adapters.repair", "Report"): "RepairReport",
}

TEXT_SUFFIXES = {".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".txt", ".sh", ".html", ".po", ""}


def fail(message: str) -> None:
    sys.exit(f"relayout: {message}")


@dataclass
class Plan:
    root: pathlib.Path
    layers: dict[str, int]  # LAYERS as read from tests/test_layers.py
    moves: dict[str, str]  # "api" -> "lookup" (top-level name -> its new package)
    old_modules: set[str] = field(default_factory=set)  # dotted, before the move

    def new_module(self, dotted: str) -> str:
        parts = dotted.split(".")
        if len(parts) > 1 and parts[0] == "thumbkit" and parts[1] in self.moves:
            return ".".join(["thumbkit", self.moves[parts[1]], *parts[1:]])
        return dotted

    def new_path(self, path: pathlib.Path) -> pathlib.Path:
        rel = path.relative_to(self.root)
        parts = rel.parts
        if parts[:2] == ("src", "thumbkit") and len(parts) > 2:
            top = parts[2].removesuffix(".py")
            if top in self.moves:
                return self.root.joinpath("src", "thumbkit", self.moves[top], *parts[2:])
        return path


# ---------------------------------------------------------------------------- the plan


def read_layers(text: str) -> tuple[dict[str, int], ast.AnnAssign | ast.Assign]:
    tree = ast.parse(text)
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "LAYERS":
            assert isinstance(node, ast.AnnAssign | ast.Assign)
            value = node.value
            if not isinstance(value, ast.Dict):
                fail("LAYERS in tests/test_layers.py is not a dict literal")
            assert isinstance(value, ast.Dict)
            layers = {}
            for key, val in zip(value.keys, value.values, strict=True):
                if not (isinstance(key, ast.Constant) and isinstance(val, ast.Name)):
                    fail(f"LAYERS entry at line {getattr(key, 'lineno', '?')} is not 'name': LAYER")
                assert isinstance(key, ast.Constant)
                assert isinstance(val, ast.Name)
                layers[str(key.value)] = LAYER_CONSTANTS[val.id]
            return layers, node
    fail("no LAYERS table in tests/test_layers.py")
    raise AssertionError


def top_level_modules(package: pathlib.Path) -> list[str]:
    names = []
    for child in sorted(package.iterdir()):
        if child.suffix == ".py":
            names.append(child.stem)
        elif child.is_dir() and (child / "__init__.py").exists():
            names.append(child.name)
    return names


def dotted_modules(package: pathlib.Path) -> set[str]:
    found = set()
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.add(".".join(["thumbkit", *parts]))
    return found


def make_plan(root: pathlib.Path) -> Plan:
    package = root / "src" / "thumbkit"
    layers, _node = read_layers((root / "tests" / "test_layers.py").read_text(encoding="utf-8"))
    moves: dict[str, str] = {}
    missing = []
    for name in top_level_modules(package):
        if name in KEEP or name in PACKAGES.values():
            continue
        if name not in layers:
            missing.append(name)
            continue
        layer = layers[name]
        if layer == BASE:
            continue  # the base stays at the top, below every package
        for key, sub in layers.items():
            if key.startswith(name + ".") and sub != layer:
                fail(f"LAYERS puts {key} in another layer than {name}: cannot place it")
        target = package / PACKAGES[layer]
        if (target / f"{name}.py").exists() or (target / name).exists():
            fail(f"both thumbkit/{name} and thumbkit/{PACKAGES[layer]}/{name} exist")
        moves[name] = PACKAGES[layer]
    if missing:
        fail(f"no layer in tests/test_layers.py LAYERS for: {', '.join(missing)}")
    return Plan(root, layers, moves, dotted_modules(package))


# ---------------------------------------------------------------------------- Python files


def _char_offset(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


@dataclass
class ImportRewrite:
    start: tuple[int, int]  # (line index, char col)
    end: tuple[int, int]
    text: str


def module_of_file(plan: Plan, path: pathlib.Path) -> tuple[str, bool] | None:
    """The dotted module of a file inside src/thumbkit (before the move), and is-package."""
    try:
        rel = path.relative_to(plan.root / "src")
    except ValueError:
        return None
    parts = list(rel.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _relative(from_package: str, target: str) -> str:
    here, there = from_package.split("."), target.split(".")
    common = 0
    while common < min(len(here), len(there)) and here[common] == there[common]:
        common += 1
    return "." * (len(here) - common + 1) + ".".join(there[common:])


def _alias_comments(lines: list[str], node: ast.ImportFrom) -> dict[int, str]:
    """Trailing comments on the lines of a parenthesized import, by alias index."""
    found: dict[int, str] = {}
    if node.lineno == node.end_lineno:
        return found
    for i, alias in enumerate(node.names):
        line = lines[alias.lineno - 1]
        rest = line[_char_offset(line, alias.end_col_offset or 0) :]
        if "#" in rest:
            found[i] = rest[rest.index("#") :].rstrip()
    return found


def rewrite_imports(
    plan: Plan, path: pathlib.Path, text: str, local_renames: dict[str, str]
) -> str:
    """Re-point every ``from X import Y`` at the moved modules; fill ``local_renames`` with the
    names this file binds that RENAMES renames."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    where = module_of_file(plan, path)
    new_self = plan.new_module(where[0]) if where else None
    rewrites: list[ImportRewrite] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            if where is None:
                continue  # a relative import outside src: not ours
            package = _package_of(*where).split(".")
            base = package[: len(package) - node.level + 1]
            old = ".".join([*base, *([node.module] if node.module else [])])
        else:
            old = node.module or ""
        if old.split(".")[0] != "thumbkit":
            continue
        groups: dict[str, list[tuple[str, str | None, str]]] = {}
        comments = _alias_comments(lines, node)
        for i, alias in enumerate(node.names):
            sub = f"{old}.{alias.name}"
            if sub in plan.old_modules:
                target = plan.new_module(sub).rpartition(".")[0]
                name = alias.name
            else:
                target = plan.new_module(old)
                name = RENAMES.get((target, alias.name), alias.name)
                if name != alias.name and alias.asname is None:
                    local_renames[alias.name] = name
            groups.setdefault(target, []).append((name, alias.asname, comments.get(i, "")))
        rendered = []
        for target, names in groups.items():
            if node.level:
                assert where is not None
                assert new_self is not None
                new_package = _package_of(new_self, where[1])
                module = _relative(new_package, target)
            else:
                module = target
            rendered.append(_render(module, names))
        original_names = [(a.name, a.asname) for a in node.names]
        if (
            len(groups) == 1
            and [(n, a) for n, a, _ in next(iter(groups.values()))] == original_names
            and rendered[0].split(" import ")[0] == "from " + "." * node.level + (node.module or "")
        ):
            continue  # unchanged: keep it as written
        first = lines[node.lineno - 1]
        start_col = _char_offset(first, node.col_offset)
        last = lines[(node.end_lineno or node.lineno) - 1]
        end_col = _char_offset(last, node.end_col_offset or 0)
        indent = first[:start_col]
        joiner = "\n" + indent if not indent.strip() else "; "
        segment = "".join(lines[node.lineno - 1 : node.end_lineno])
        inside = segment[start_col : len(segment) - len(last) + end_col]
        if inside.count("#") > len(comments):
            print(f"relayout: warning: a comment inside an import was dropped in {path}")
        trailing = last[end_col:].strip()
        if trailing.startswith("#") and len(rendered) > 1:  # a noqa for E402 holds for each
            rendered = [r if "\n" in r else f"{r}  {trailing}" for r in rendered[:-1]] + [
                rendered[-1]
            ]
        rewrites.append(
            ImportRewrite(
                (node.lineno - 1, start_col),
                ((node.end_lineno or node.lineno) - 1, end_col),
                joiner.join(r.replace("\n", "\n" + indent) for r in rendered),
            )
        )
    for rw in sorted(rewrites, key=lambda r: r.start, reverse=True):
        (l0, c0), (l1, c1) = rw.start, rw.end
        head, tail = lines[l0][:c0], lines[l1][c1:]
        lines[l0 : l1 + 1] = [head + rw.text + tail]
    return "".join(lines)


def _render(module: str, names: list[tuple[str, str | None, str]]) -> str:
    items = [f"{n} as {a}" if a else n for n, a, _ in names]
    if not any(c for _, _, c in names):
        return f"from {module} import {', '.join(items)}"
    body = "".join(
        f"    {item},{'  ' + c if c else ''}\n"
        for item, (_, _, c) in zip(items, names, strict=True)
    )
    return f"from {module} import (\n{body})"


IMPORTERS = {"import_module", "import_string", "__import__"}


def rewrite_dynamic_imports(plan: Plan, path: pathlib.Path, text: str) -> str:
    """``import_module(f"thumbkit.{package}")`` in a function: its callers' literal argument
    (``_registry("stores", ...)``) becomes the new path (``"lookup.stores"``)."""
    tree = ast.parse(text)
    params: dict[str, int] = {}  # function name -> index of the parameter put after "thumbkit."
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = [a.arg for a in fn.args.args]
        loaded = [
            arg
            for call in ast.walk(fn)
            if isinstance(call, ast.Call)
            and getattr(call.func, "attr", getattr(call.func, "id", "")) in IMPORTERS
            for arg in call.args
        ]
        for node in loaded:
            if not isinstance(node, ast.JoinedStr) or len(node.values) < 2:
                continue
            head, value = node.values[0], node.values[1]
            if not (isinstance(head, ast.Constant) and str(head.value).endswith("thumbkit.")):
                continue
            inner = value.value if isinstance(value, ast.FormattedValue) else None
            if isinstance(inner, ast.Name) and inner.id in names:
                params[fn.name] = names.index(inner.id)
            else:
                print(f"relayout: warning: {path}:{node.lineno}: a dynamic thumbkit path")
    lines = text.splitlines(keepends=True)
    edits = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        index = params.get(call.func.id)
        if index is None or index >= len(call.args):
            continue
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            top = arg.value.split(".")[0]
            if top in plan.moves and arg.lineno == arg.end_lineno:
                edits.append((arg.lineno - 1, arg, f'"{plan.moves[top]}.{arg.value}"'))
    for row, arg, new in sorted(edits, key=lambda e: (e[0], e[1].col_offset), reverse=True):
        line = lines[row]
        start = _char_offset(line, arg.col_offset)
        end = _char_offset(line, arg.end_col_offset or 0)
        lines[row] = line[:start] + new + line[end:]
    return "".join(lines)


def rename_tokens(text: str, renames: dict[str, str], path: pathlib.Path, log: list[str]) -> str:
    """Rename NAME tokens (not attribute names after a dot) and backticked names in strings."""
    if not renames:
        return text
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []  # line, col, length, new
    previous = None
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        row, col = tok.start
        if tok.type == tokenize.NAME and tok.string in renames and previous != ".":
            edits.append((row - 1, col, len(tok.string), renames[tok.string]))
            log.append(f"{path}:{row}: {lines[row - 1].strip()}")
        elif tok.type in (tokenize.STRING, tokenize.COMMENT):
            for i, part in enumerate(tok.string.split("\n")):
                at = col if i == 0 else 0
                for old, new in renames.items():
                    for m in re.finditer(rf"(?<=`){re.escape(old)}(?=[`(])", part):
                        edits.append((row - 1 + i, at + m.start(), len(old), new))
                        log.append(f"{path}:{row + i}: {lines[row - 1 + i].strip()}")
        if tok.type not in (tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE):
            previous = tok.string
    for row, col, length, new in sorted(edits, reverse=True):
        line = lines[row]
        lines[row] = line[:col] + new + line[col + length :]
    return "".join(lines)


LINE_LENGTH = 100


def wrap_long_lines(text: str, before: str) -> str:
    """Break a comment or docstring line the rewrite made too long at its last space."""
    old = set(before.splitlines())
    prose: set[int] = set()  # 0-based lines inside a comment or a multi-line string
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT and not tok.line[: tok.start[1]].strip():
            prose.add(tok.start[0] - 1)
        elif tok.type == tokenize.STRING and (
            tok.end[0] > tok.start[0]
            or (
                tok.string.lstrip("rbuRBU").startswith(('"""', "'''"))
                and not tok.line[: tok.start[1]].strip()
            )
        ):
            prose.update(range(tok.start[0] - 1, tok.end[0]))
    lines = text.splitlines(keepends=True)
    is_prose = [j in prose for j in range(len(lines))]
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        body = line.rstrip("\n")
        if len(body) <= LINE_LENGTH or body in old or not is_prose[i]:
            out.append(line)
            i += 1
            continue
        indent = body[: len(body) - len(body.lstrip())]
        lead = indent + ("# " if body.lstrip().startswith("#") else "")
        cut = body.rfind(" ", len(lead) + 10, LINE_LENGTH + 1)
        if cut < 0:
            out.append(line)
            i += 1
            continue
        out.append(body[:cut].rstrip() + "\n")
        rest = body[cut + 1 :]
        following = lines[i + 1].rstrip("\n") if i + 1 < len(lines) else ""
        words = following[len(lead) :]
        if (
            i + 1 < len(lines)
            and is_prose[i + 1]
            and following.startswith(lead)
            and words.strip()
            and not words[0].isspace()
            and not words.startswith(("-", "*", ">>>", '"""', "'''"))
            and not rest.rstrip().endswith(('"""', "'''"))
        ):
            lines[i + 1] = lead + rest + " " + words + "\n"  # flows into the next line
        else:
            lines.insert(i + 1, lead + rest + line[len(body) :])
            is_prose.insert(i + 1, True)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------- any text


def rewrite_text(plan: Plan, text: str, path: pathlib.Path, log: list[str]) -> str:
    """Dotted module paths, file paths and module-qualified renamed names, in any text."""
    names = "|".join(sorted(map(re.escape, plan.moves), key=len, reverse=True))
    if names:
        dotted = re.compile(rf"(?<![\w.])thumbkit\.({names})(?![\w])")
        text = dotted.sub(lambda m: f"thumbkit.{plan.moves[m.group(1)]}.{m.group(1)}", text)
        files = re.compile(rf"(?<![\w.])thumbkit/({names})(\.py\b|/)")
        text = files.sub(
            lambda m: f"thumbkit/{plan.moves[m.group(1)]}/{m.group(1)}{m.group(2)}", text
        )
    if names and path.suffix == ".py":
        # A file named by its path under src/thumbkit ("batch.py"), as tests that walk it do.
        bare = re.compile(rf"""(["'])({names})\.py\1""")
        text = bare.sub(lambda m: f"{m[1]}{plan.moves[m[2]]}/{m[2]}.py{m[1]}", text)
    for (module, old), new in RENAMES.items():
        short = module.rpartition(".")[2]
        qualified = rf"((?:{re.escape(module.rpartition('.')[0])}\.)?{short})"
        pattern = re.compile(rf"(?<![\w.]){qualified}\.{old}(?!\w)")
        for m in pattern.finditer(text):
            log.append(f"{path}: {text[max(0, m.start() - 30) : m.end() + 10]!r}")
        text = pattern.sub(rf"\1.{new}", text)
        # monkeypatch.setattr(batch, "load", ...) and mock.patch.object(batch, "load", ...)
        attr = re.compile(rf"(?<![\w.])({short}\s*,\s*)(['\"]){old}\2")
        text = attr.sub(rf"\1\2{new}\2", text)
    return text


# ---------------------------------------------------------------------------- test_layers


def layers_block(plan: Plan, original: str, node: ast.AST) -> str:
    """The new LAYERS table: the three packages and the modules that stay at the top."""
    lines = original.splitlines()
    comments = {}
    for line in lines[node.lineno - 1 : node.end_lineno]:
        m = re.match(r'\s*"([^"]*)":\s*\w+,\s*(#.*)?$', line)
        if m and m.group(2):
            comments[m.group(1)] = m.group(2)
    kept = {k: v for k, v in plan.layers.items() if k.split(".")[0] not in plan.moves}
    heads = {
        BASE: "# base: settings, errors and signals, which every layer may use",
        PIXEL: "# pixel core: what a thumbnail looks like and how its pixels are made; no ORM,"
        " no templates",
        LOOKUP: "# lookup: sources, keys and names, records, metadata stores, strategies,"
        " generation, the API",
        ADAPTER: "# Django adapters: model fields, forms, templates, admin, views, tasks,"
        " checks, commands",
    }
    out = ["LAYERS: dict[str, int] = {"]
    names = {BASE: "BASE", PIXEL: "PIXEL", LOOKUP: "LOOKUP", ADAPTER: "ADAPTER"}
    for layer in (BASE, PIXEL, LOOKUP, ADAPTER):
        out.append(f"    {heads[layer]}")
        entries = []
        if layer in PACKAGES:
            entries.append((PACKAGES[layer], f"# thumbkit/{PACKAGES[layer]}/: every module in it"))
        entries += [(k, comments.get(k, "")) for k, v in kept.items() if v == layer]
        for key, comment in entries:
            out.append(f'    "{key}": {names[layer]},{"  " + comment if comment else ""}')
    out.append("}")
    # A package entry read from an already half-moved table must not appear twice.
    seen: set[str] = set()
    unique = []
    for line in out:
        m = re.match(r'\s*"([^"]*)":', line)
        if m and m.group(1) in seen:
            continue
        if m:
            seen.add(m.group(1))
        unique.append(line)
    return "\n".join(unique)


TREE_TEST = """

# The tree shows the layers: a module inside one of these packages is in the package's layer.
# Only the base and the modules whose import paths are a contract (user code and settings,
# migrations, queued tasks, thumbnail keys) or that Django finds by name stay at the top.
PACKAGE_LAYERS = {"core": PIXEL, "lookup": LOOKUP, "adapters": ADAPTER}
TOP_LEVEL = {TOP_LEVEL}


def test_the_tree_shows_the_layers() -> None:
    wrong = []
    for module in MODULES:
        top = module.removeprefix("thumbkit").removeprefix(".").split(".")[0]
        layer = layer_of(module)
        if top in PACKAGE_LAYERS and layer != PACKAGE_LAYERS[top]:
            wrong.append(f"{module} is {LAYER_NAMES[layer]} but sits in thumbkit/{top}/")
        elif top not in PACKAGE_LAYERS and layer != BASE and top not in TOP_LEVEL:
            wrong.append(f"{module} ({LAYER_NAMES[layer]}) sits at the top of thumbkit/")
    assert wrong == [], "move these modules into the package of their layer:\\n" + "\\n".join(
        wrong
    )
    assert all(any(m.startswith(f"thumbkit.{p}.") for m in MODULES) for p in PACKAGE_LAYERS)
"""


def rewrite_test_layers(plan: Plan, text: str) -> str:
    _layers, node = read_layers(text)
    lines = text.splitlines(keepends=True)
    block = layers_block(plan, text, node)
    head = "".join(lines[: node.lineno - 1])
    tail = "".join(lines[node.end_lineno :])
    # Short module names in the other tests ("api", "tags.thumbnail"): the new short names.
    short = {
        m.removeprefix("thumbkit."): plan.new_module(m).removeprefix("thumbkit.")
        for m in plan.old_modules
        if m != "thumbkit"
    }

    def fix_strings(part: str) -> str:
        def one(m: re.Match[str]) -> str:
            value = m.group(2)
            return f"{m.group(1)}{short.get(value, value)}{m.group(1)}"

        return re.sub(r"""(["'])([a-z_.]+)\1""", one, part)

    head, tail = fix_strings(head), fix_strings(tail)
    # The comments that say which import statement makes an edge the walk must see.
    for was, now in (
        ("from . import checks", "from .adapters import checks"),
        ("from ..tags import x", "from ..adapters.tags import x"),
    ):
        if plan.moves.get("checks") == "adapters" and plan.moves.get("tags") == "adapters":
            tail = tail.replace(f"``{was}``", f"``{now}``")
    top = sorted(
        k for k, v in plan.layers.items() if v != BASE and k in KEEP | {""} and "." not in k
    )
    top = [k for k in top if k != "__init__"]
    test = TREE_TEST.replace("{TOP_LEVEL}", "{" + ", ".join(f'"{k}"' for k in top) + "}")
    if "def test_the_tree_shows_the_layers" in tail:
        test = ""  # a later run, for a module added after the first one: the test is there
    return head + block + "\n" + tail.rstrip("\n") + "\n" + test


# ---------------------------------------------------------------------------- docs


def _listing(package: pathlib.Path, name: str) -> str:
    path = package / name
    if path.is_dir():
        subs = sorted(p.stem for p in path.glob("*.py") if p.stem != "__init__")
        return f"`{name}` ({', '.join(f'`{s}`' for s in subs)})" if subs else f"`{name}`"
    return f"`{name}`"


def layer_cells(plan: Plan) -> dict[int, str]:
    package = plan.root / "src" / "thumbkit"
    cells = {}
    for layer in (BASE, PIXEL, LOOKUP, ADAPTER):
        top = [
            k
            for k, v in plan.layers.items()
            if v == layer and "." not in k and k not in plan.moves and k not in PACKAGES.values()
        ]
        parts = []
        if layer in PACKAGES:
            pkg = PACKAGES[layer]
            inside = [k for k in plan.layers if k in plan.moves and plan.moves[k] == pkg]
            inside += sorted(set(top_level_modules(package / pkg)) - set(inside) - {"__init__"})
            listed = ", ".join(_listing(package / pkg, k) for k in inside)
            parts.append(f"`{pkg}/`: {listed}")
        special = {
            "": "`thumbkit` (the package's `__init__`)",
            "management": "`management` (commands)",
        }
        listed = ", ".join(
            special.get(k) or (_listing(package, k) if k == "processors" else f"`{k}`") for k in top
        )
        if listed:
            parts.append(("at the top: " if layer in PACKAGES else "") + listed)
        cells[layer] = "; ".join(parts)
    return cells


def file_tree(package: pathlib.Path) -> str:
    notes = {
        "": "base, the public API, the contract modules and the Django app's files",
        "core": "pixel core",
        "lookup": "lookup",
        "adapters": "Django adapters",
        "processors": "pixel core (class paths are part of thumbnail keys)",
    }
    out = ["src/thumbkit/"]

    def walk(folder: pathlib.Path, depth: int) -> None:
        files = sorted(p.name for p in folder.glob("*.py"))
        pad = "    " * depth
        line = pad
        for name in files:
            if len(line) + len(name) + 1 > 92 and line.strip():
                out.append(line.rstrip())
                line = pad
            line += name + " "
        if line.strip():
            out.append(line.rstrip())
        subs = [p for p in sorted(folder.iterdir()) if p.is_dir() and (p / "__init__.py").exists()]
        order = {"core": 0, "lookup": 1, "adapters": 2}
        for sub in sorted(subs, key=lambda p: (order.get(p.name, 3), p.name)):
            rel = sub.relative_to(package).as_posix()
            note = notes.get(rel, "")
            label = f"{pad}{sub.name}/"
            out.append(f"{label:<32}{note}".rstrip() if note else label)
            walk(sub, depth + 1)

    walk(package, 1)
    return "\n".join(out)


TREE_START = "<!-- file tree: generated by scripts/relayout.py -->"
TREE_END = "<!-- end of the file tree -->"


def rewrite_architecture(plan: Plan, text: str) -> str:
    cells = layer_cells(plan)
    rows = {
        BASE: "**base**",
        PIXEL: "**pixel core**",
        LOOKUP: "**lookup**",
        ADAPTER: "**Django adapters**",
    }
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for layer, label in rows.items():
            if line.startswith(f"| {label} |"):
                cols = line.split(" | ")
                cols[1] = cells[layer]
                lines[i] = " | ".join(cols)
    text = "\n".join(lines) + "\n"
    tree = file_tree(plan.root / "src" / "thumbkit")
    section = (
        f"{TREE_START}\n"
        "The packages are the layers: `thumbkit/core/` is the pixel core, `thumbkit/lookup/` the\n"
        "lookup layer and `thumbkit/adapters/` the Django adapters (`tests/test_layers.py` checks\n"
        "that every module in a package is in its layer). The base and the modules whose paths\n"
        "are a contract stay at the top: `fields`, `forms`, `admin`, `urls` and `validators` are\n"
        "imported by users' code, settings and migrations, `tasks` paths are stored in queued\n"
        "tasks, and `processors` and `optimize` class paths are part of thumbnail keys.\n\n"
        f"```text\n{tree}\n```\n{TREE_END}\n"
    )
    if TREE_START in text:
        start, end = text.index(TREE_START), text.index(TREE_END) + len(TREE_END) + 1
        return text[:start] + section + text[end:]
    anchor = "Choices that are not obvious:"
    if anchor in text:
        return text.replace(anchor, section + "\n" + anchor, 1)
    return text + "\n" + section


CHANGELOG_ENTRY = (
    "- The modules sit in one package per layer: `thumbkit.core` (pixel core), `thumbkit.lookup`\n"
    "  and `thumbkit.adapters`; the base (`conf`, `exceptions`, `signals`) and the contract\n"
    "  modules (`fields`, `forms`, `admin`, `urls`, `tasks`, `validators`, `processors`,\n"
    "  `optimize`, `models`) keep their paths. Dotted settings use the new paths (for example\n"
    '  `thumbkit.lookup.stores.redis.RedisStore`; the short names `"redis"`, `"vips"` are\n'
    "  unchanged), and so do logger names below `thumbkit`. Duplicate names are gone:\n"
    "  `batch.load` is `load_records`, `refs.load` is `spec_from_ref`, `bulk.Report` and\n"
    "  `repair.Report` are `RunReport` and `RepairReport`, `bulk.Failure` is `ItemFailure`.\n"
)


def rewrite_changelog(text: str) -> str:
    if "one package per layer" in text:
        return text
    m = re.search(r"^## .*unreleased.*$", text, re.IGNORECASE | re.MULTILINE)
    if not m:
        return text
    changed = re.compile(r"^### Changed\s*\n\n", re.MULTILINE).search(text, m.end())
    following = re.compile(r"^## ", re.MULTILINE).search(text, m.end())
    if changed and (following is None or changed.start() < following.start()):
        return text[: changed.end()] + CHANGELOG_ENTRY + text[changed.end() :]
    return text[: m.end()] + "\n\n### Changed\n\n" + CHANGELOG_ENTRY + text[m.end() :]


# ---------------------------------------------------------------------------- driver


def tracked_files(root: pathlib.Path) -> list[pathlib.Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    me = pathlib.Path(__file__).resolve()
    paths = [root / p for p in out.stdout.decode().split("\0") if p]
    return [p for p in paths if p.is_file() and p.resolve() != me]


def is_text(path: pathlib.Path) -> bool:
    return path.suffix == ".py" or (
        path.suffix in TEXT_SUFFIXES and (path.suffix or path.name in {"Makefile", "run"})
    )


def new_contents(
    plan: Plan, files: Iterable[pathlib.Path], log: list[str]
) -> dict[pathlib.Path, str]:
    result = {}
    for path in files:
        if not is_text(path):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = text
        rel = path.relative_to(plan.root).as_posix()
        if rel == "tests/test_layers.py":
            new = rewrite_test_layers(plan, new)
        if path.suffix == ".py":
            local: dict[str, str] = {}
            new = rewrite_imports(plan, path, new, local)
            new = rewrite_dynamic_imports(plan, path, new)
            where = module_of_file(plan, path)
            if where:
                module = plan.new_module(where[0])
                local.update({old: n for (m, old), n in RENAMES.items() if m == module})
            new = rename_tokens(new, local, path, log)
        entry = CHANGELOG_ENTRY in new  # it names the old names on purpose: keep it as is
        new = rewrite_text(plan, new.replace(CHANGELOG_ENTRY, "\0"), path, log)
        new = new.replace("\0", CHANGELOG_ENTRY) if entry else new
        if path.suffix == ".py":
            new = wrap_long_lines(new, text)
        if rel == "docs/changelog.md":
            new = rewrite_changelog(new)
        if new != text:
            result[path] = new
    return result


def git(root: pathlib.Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True)


def move(plan: Plan) -> None:
    package = plan.root / "src" / "thumbkit"
    for pkg in sorted(set(plan.moves.values())):
        init = package / pkg / "__init__.py"
        if not init.exists():
            init.parent.mkdir(exist_ok=True)
            doc = PACKAGE_DOCS[pkg]
            init.write_text(f'"""{doc}\n"""\n\nfrom __future__ import annotations\n', "utf-8")
            git(plan.root, "add", str(init.relative_to(plan.root)))
    for name, pkg in sorted(plan.moves.items()):
        src = package / (f"{name}.py" if (package / f"{name}.py").exists() else name)
        git(
            plan.root,
            "mv",
            str(src.relative_to(plan.root)),
            str((package / pkg / src.name).relative_to(plan.root)),
        )


def ruff(root: pathlib.Path, files: list[pathlib.Path]) -> None:
    exe = root / ".venvs" / "py312-dj61" / "bin" / "ruff"
    found = str(exe) if exe.exists() else shutil.which("ruff")
    if not found or not files:
        print("relayout: ruff not found: run `ruff check --select I --fix` and `ruff format`")
        return
    names = [str(f.relative_to(root)) for f in files]
    subprocess.run([found, "check", "--select", "I", "--fix", "-q", *names], cwd=root, check=False)
    subprocess.run([found, "format", "-q", *names], cwd=root, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parents[1]
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    root = args.root.resolve()
    plan = make_plan(root)
    if not plan.moves:
        print("relayout: every module is already in the package of its layer: nothing to do")
        return
    for name, pkg in sorted(plan.moves.items(), key=lambda kv: (kv[1], kv[0])):
        print(f"relayout: thumbkit/{name} -> thumbkit/{pkg}/{name}")
    log: list[str] = []
    contents = new_contents(plan, tracked_files(root), log)
    print("relayout: renamed names (check each):")
    for line in log:
        print(f"    {line}")
    if args.dry_run:
        print(f"relayout: dry run: {len(contents)} files would change")
        return
    move(plan)
    written = []
    for path, text in contents.items():
        target = plan.new_path(path)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    doc = root / "docs" / "architecture.md"
    if doc.exists():
        doc.write_text(rewrite_architecture(plan, doc.read_text(encoding="utf-8")), "utf-8")
    written += sorted((root / "src" / "thumbkit").glob("*/__init__.py"))
    ruff(root, [p for p in written if p.suffix == ".py"])
    print(f"relayout: moved {len(plan.moves)} modules, rewrote {len(contents)} files")


if __name__ == "__main__":
    main()
