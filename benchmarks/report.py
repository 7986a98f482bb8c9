"""Tables (Markdown) from the workers' results, and the checks against issue 3's targets."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from .common import Env, median

MiB = 1024 * 1024
FLOOR = ("floor", "plain", "url")
COMPETITORS = ("sorl", "easy", "imagekit")
DISTRIBUTIONS = (
    "django",
    "django-thumbkit",
    "sorl-thumbnail",
    "easy-thumbnails",
    "django-imagekit",
    "pilkit",
    "pillow",
    "pyvips",
    "redis",
    "psycopg",
)

Result = dict[str, Any]


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def merge_fresh(samples: list[Result]) -> Result:
    """One result from the fresh processes of a page: every time, the first one's counts."""
    failed = [s for s in samples if "error" in s]
    if failed:
        return {**failed[0], "mode": "fresh"}
    times = [t for s in samples for t in s["times"]]
    checks = {s["check"] for s in samples}
    merged = {**samples[0], "times": times, "median": median(times)}
    merged["check"] = "ok" if checks == {"ok"} else "; ".join(sorted(checks - {"ok"}))
    return merged


def short(result: Result) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    out = result["output"]
    return (
        f"{result['median'] * 1000:.1f} ms, peak {result['peak'] / MiB:.1f} MiB, "
        f"{out['size'][0]}x{out['size'][1]} {out['format']} {out['bytes'] // 1024} KiB"
    )


def meta(args: argparse.Namespace, env: Env, started: float, load_before: Any) -> Result:
    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    versions["django-thumbkit"] = thumbkit_version()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "seconds": round(time.time() - started),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load": [round(x, 1) for x in load_before],
        "load_end": [round(x, 1) for x in os.getloadavg()],
        "db": env.db,
        "redis": env.redis,
        "versions": versions,
        "args": vars(args),
    }


def thumbkit_version() -> str:
    """The checkout's version and commit (``+dirty`` when src/ has uncommitted changes)."""
    root = Path(__file__).resolve().parent.parent
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        changes = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True)
    except OSError:
        return str(version)
    dirty = "+dirty" if changes.stdout.strip() else ""
    return f"{version} ({commit.stdout.decode().strip()}{dirty})"


def _key(r: Result) -> tuple[str, str, str, int]:
    return (r["lib"], r["config"], r["template"], r["rows"])


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return "-"
    return f"{value / floor:.2f}"


def _pair(fresh: Any, warm: Any) -> str:
    fresh, warm = ("-" if v is None else v for v in (fresh, warm))
    return str(warm) if fresh == warm else f"{fresh} / {warm}"


def _redis(r: Result | None) -> str | None:
    if r is None or "error" in r:
        return None
    if not r["redis_commands"]:
        return "0"
    return f"{r['redis_commands']} ({r['redis_round_trips']})"


def page_rows(pages: list[Result], rows: int) -> list[str]:
    by_mode: dict[str, dict[tuple[str, str, str, int], Result]] = {"fresh": {}, "warm": {}}
    order: list[tuple[str, str, str, int]] = []
    for r in pages:
        if "error" in r and "template" not in r:
            continue
        if r.get("rows") != rows:
            continue
        key = _key(r)
        if key not in order:
            order.append(key)
        by_mode[r["mode"]][key] = r
    floor = {m: by_mode[m].get((*FLOOR, rows)) for m in by_mode}
    lines = [
        "| library | configuration | template | fresh ms | x floor | warm ms | x floor "
        "| SQL | Redis cmds (trips) | storage I/O | check |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for key in order:
        f, w = by_mode["fresh"].get(key), by_mode["warm"].get(key)
        lines.append(_page_line(key, f, w, floor))
    return lines


def _page_line(
    key: tuple[str, str, str, int], f: Result | None, w: Result | None, floor: dict[str, Any]
) -> str:
    def get(r: Result | None, field: str) -> Any:
        return None if r is None or "error" in r else r.get(field)

    fm, wm = get(f, "median"), get(w, "median")
    errors = [r["error"] for r in (f, w) if r is not None and "error" in r]
    check = "; ".join(errors) or _check(f, w)
    ff, fw = (get(floor.get(m), "median") for m in ("fresh", "warm"))
    cells = [
        key[0],
        key[1],
        key[2],
        _ms(fm),
        _ratio(fm, ff),
        _ms(wm),
        _ratio(wm, get(w, "floor_median") or fw),
        _pair(get(f, "queries"), get(w, "queries")),
        _pair(_redis(f), _redis(w)),
        _pair(get(f, "storage_io"), get(w, "storage_io")),
        check,
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _check(*results: Result | None) -> str:
    problems = {r["check"] for r in results if r is not None and r.get("check") != "ok"}
    return "; ".join(sorted(problems)) or "ok"


def generation_rows(gens: list[Result], case: str) -> list[str]:
    results = [g for g in gens if g["case"] == case]
    floor = next((g for g in results if g["lib"] == "pillow" and "error" not in g), None)
    lines = [
        "| library | median ms | x Pillow | peak MiB | x Pillow | output |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for g in results:
        if "error" in g:
            lines.append(f"| {g['lib']} | - | - | - | - | ERROR {g['error']} |")
            continue
        out = g["output"]
        size = f"{out['size'][0]}x{out['size'][1]} {out['format']}, {out['bytes'] // 1024} KiB"
        if g["case"] in ANIMATED_CASES:
            size += f", {out.get('frames', 1)} frames"
        time_ratio = _ratio(g["median"], floor["median"] if floor else None)
        mem_ratio = _ratio(g["peak"], floor["peak"] if floor else None)
        cells = [g["lib"], _ms(g["median"]), time_ratio, f"{g['peak'] / MiB:.1f}", mem_ratio, size]
        lines.append("| " + " | ".join(cells) + " |")
    if case in ANIMATED_CASES:
        lines += ["", *versus(results)]
    return lines


ANIMATED_CASES = ("gif-anim", "webp-anim")


def versus(results: list[Result]) -> list[str]:
    """thumbkit's time and peak as ratios to sorl-thumbnail's vips engine and to imagekit."""
    found = {g["lib"]: g for g in results if "error" not in g}
    lines = []
    for ours in ("thumbkit", "thumbkit-vips"):
        for theirs in ("sorl-vips", "imagekit"):
            a, b = found.get(ours), found.get(theirs)
            if a is None or b is None:
                continue
            frames = f"{a['output'].get('frames', 1)} vs {b['output'].get('frames', 1)} frames"
            lines.append(
                f"- {ours} / {theirs}: time {_ratio(a['median'], b['median'])}, "
                f"peak {_ratio(a['peak'], b['peak'])} ({frames})"
            )
    return lines


def _warm_ratio(pages: list[Result], key: tuple[str, str, str, int]) -> float | None:
    """A warm page's time over the floor timed next to it in the same process."""
    for r in pages:
        if "error" in r or r.get("mode") != "warm":
            continue
        if _key(r) == key and r.get("floor_median"):
            return float(r["median"]) / float(r["floor_median"])
    return None


def targets(pages: list[Result], gens: list[Result]) -> list[str]:
    """Issue 3's targets, checked against this run (warm 100-row pages, jpeg-crop)."""
    lines = _page_targets(pages)
    crop = {g["lib"]: g for g in gens if g["case"] == "jpeg-crop" and "error" not in g}
    if "pillow" in crop and "thumbkit" in crop:
        ratio = crop["thumbkit"]["median"] / crop["pillow"]["median"]
        peak = crop["thumbkit"]["peak"] / MiB
        lines.append(_verdict(f"jpeg-crop time {ratio:.2f}x raw Pillow", ratio <= 1.15, "<= 1.15"))
        lines.append(_verdict(f"jpeg-crop peak memory {peak:.1f} MiB", peak < 10, "< 10 MiB"))
    return lines


def _page_targets(pages: list[Result]) -> list[str]:
    lines = []
    warm100 = [r for r in pages if r.get("mode") == "warm" and r.get("rows") == 100]
    others = [
        (ratio, f"{r['lib']} {r['config']} {r['template']}")
        for r in warm100
        if r["lib"] in COMPETITORS and (ratio := _warm_ratio(pages, _key(r)))
    ]
    fastest = min(others, default=None)
    for config in sorted({r["config"] for r in warm100 if r["lib"] == "thumbkit"}):
        accessor = _warm_ratio(pages, ("thumbkit", config, "accessor", 100))
        tag = _warm_ratio(pages, ("thumbkit", config, "tag", 100))
        if accessor:
            text = f"{config}: accessor {accessor:.2f}x floor"
            lines.append(_verdict(text, accessor <= 1.3, "<= 1.3"))
        if tag:
            lines.append(_verdict(f"{config}: block tag {tag:.2f}x floor", tag <= 2.0, "<= 2"))
        if tag and fastest:
            speedup = fastest[0] / tag
            text = f"{config}: block tag {speedup:.1f}x faster than {fastest[1]}, the fastest other"
            lines.append(_verdict(text, speedup >= 3, ">= 3"))
    return lines


def hot_path_targets(pages: list[Result]) -> list[str]:
    """Issue 10's target: every warm thumbkit page (100 and 1000 rows; accessor, property
    and block tag; every store) at most 1.2 times the floor timed next to it."""
    lines = []
    for r in pages:
        if (
            r.get("lib") != "thumbkit"
            or r.get("mode") != "warm"
            or r.get("rows")
            not in (
                100,
                1000,
            )
        ):
            continue
        ratio = _warm_ratio(pages, _key(r))
        if ratio is not None:
            text = f"{r['config']} {r['template']} {r['rows']} rows: {ratio:.2f}x floor"
            lines.append(_verdict(text, ratio <= 1.2, "<= 1.2"))
    return lines


def failures(pages: list[Result]) -> list[str]:
    """Libraries that could not be set up, and configurations whose warm-up went wrong."""
    lines = [f"- {r['lib']} {r['stage']}: {r['error']}" for r in pages if "stage" in r]
    warm = {(r["lib"], r["config"]): r["warm_problem"] for r in pages if r.get("warm_problem")}
    lines += [f"- {lib} {config} warm-up: {note}" for (lib, config), note in warm.items()]
    return lines


def _verdict(text: str, ok: bool, target: str) -> str:
    return f"- {'met' if ok else 'MISSED'}: {text} (target {target})"


def render(info: Result, pages: list[Result], gens: list[Result]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    out = [
        "# thumbkit benchmarks",
        "",
        f"Run {info['date']} ({info['seconds']} s): Python {info['python']}, {info['cpus']} CPUs, "
        f"load average {info['load'][0]} at the start and {info['load_end'][0]} at the end; "
        f"database {info['db']}, Redis {'on' if info['redis'] else 'off'}.",
        "",
        f"Versions: {versions}.",
        "",
        f"Options: {dumps({k: v for k, v in info['args'].items() if v not in (None, False)})}",
        "",
        "Times are medians in milliseconds. `x floor` is the ratio to the floor (Django's "
        "ImageField printing the source URL and stored width/height): for warm pages, to the "
        "floor page timed in the same process, alternating with the library's page; for fresh "
        "pages, to the floor's own fresh processes. Counts are per page: `a / b` means fresh "
        "process / warm process. See benchmarks/README.md.",
    ]
    for rows in sorted({r["rows"] for r in pages if "rows" in r}):
        out += ["", f"## List page, {rows} rows ({2 * rows} thumbnails)", ""]
        out += page_rows(pages, rows)
    for case in sorted({g["case"] for g in gens}, key=_case_order):
        out += ["", f"## Generation: {CASE_TITLES.get(case, case)}", ""]
        out += generation_rows(gens, case)
    problems = failures(pages)
    if problems:
        out += ["", "## Failures", "", *problems]
    checks = targets(pages, gens)
    if checks:
        out += ["", "## Issue 3 targets (this run)", "", *checks]
    hot = hot_path_targets(pages)
    if hot:
        out += ["", "## Issue 10 hot-path target (this run)", "", *hot]
    return "\n".join(out) + "\n"


CASE_TITLES = {
    "jpeg-crop": "4000x3000 JPEG (q85) to a 300x300 centre crop (JPEG q85)",
    "jpeg-webp": "4000x3000 JPEG to 1600 px wide (WebP q85)",
    "png-alpha": "2000x1500 RGBA PNG fitted in 200x200 (PNG)",
    "gif-anim": "60-frame 480x360 GIF fitted in 200x200 (animated GIF)",
    "webp-anim": "60-frame 480x360 animated WebP fitted in 200x200 (animated WebP q85)",
}


def _case_order(case: str) -> int:
    return list(CASE_TITLES).index(case) if case in CASE_TITLES else 99
