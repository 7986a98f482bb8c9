"""The example site, served for real in a subprocess, and Debian's chromium driven by Playwright.

Chromium is never downloaded: the tests use ``/usr/bin/chromium`` (the Debian package). When it
is missing they fail in CI and are skipped elsewhere.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MANAGE = Path(__file__).resolve().parents[2] / "example" / "manage.py"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
START_TIMEOUT = 30.0


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; CI needs it for the browser tests.", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def site_env(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # pytest-django exported the test settings; the site has its own.
    env["DJANGO_SETTINGS_MODULE"] = "exampleproject.settings"
    env["THUMBKIT_EXAMPLE_VAR"] = str(var_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, str(MANAGE), *args], env=env, check=True, capture_output=True, timeout=120
    )


def wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"The example site exited early:\n{log.read_text()}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"The example site did not answer within {START_TIMEOUT}s:\n{log.read_text()}")


@pytest.fixture(scope="package")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the example site with its own SQLite, media and sample photos."""
    var_dir = tmp_path_factory.mktemp("example-var")
    env = site_env(var_dir)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "seed_example")
    port = free_port()
    log = var_dir / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/", server, log)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    # Autouse, so a machine without chromium skips before the site is even started.
    if not os.path.exists(CHROMIUM):
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
