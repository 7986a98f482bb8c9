"""The package as users get it: ``python -m build`` output, installed into a fresh venv.

The wheel and the sdist are built from this checkout, pass ``twine check --strict``, carry the
LICENSE and the project metadata; the wheel installed into a new virtualenv (with only Django,
Pillow and their two dependencies next to it) runs a small project: ``manage.py check``,
``migrate`` and a real thumbnail of a generated image. Installing straight from the checkout
(the README's ``pip install /path/to/checkout``) is tested too.
"""

from __future__ import annotations

import email
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

# What the wheel needs next to it, at the versions this test run uses (pip finds them in its
# cache, so the venv is ready in seconds; the wheel itself goes in with --no-deps).
RUNTIME = ("django", "pillow", "asgiref", "sqlparse")

SETTINGS = """
from pathlib import Path

BASE = Path(__file__).resolve().parent
SECRET_KEY = "packaging-test"
INSTALLED_APPS = ["thumbkit"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE / "db.sqlite3"}}
MEDIA_ROOT = BASE / "media"
MEDIA_URL = "/media/"
USE_TZ = True
THUMBKIT = {"SPECS": {"small": {"size": "40x40", "crop": "center"}}}
"""

SCRIPT = """
import io, json
import django
django.setup()
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image
import thumbkit
from thumbkit import get_thumbnail
from thumbkit.models import ThumbnailRecord

call_command("migrate", verbosity=0)
buffer = io.BytesIO()
Image.new("RGB", (200, 100), (200, 40, 40)).save(buffer, "JPEG")
name = default_storage.save("photos/red.jpg", ContentFile(buffer.getvalue()))
t = get_thumbnail(name, "small")
print(json.dumps({"module": thumbkit.__file__, "name": t.name, "url": t.url,
                  "width": t.width, "height": t.height,
                  "records": ThumbnailRecord.objects.count()}))
"""


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def fresh_venv(path: Path) -> Path:
    """A new venv without pip (the running pip installs into it through ``--python``)."""
    run(sys.executable, "-m", "venv", "--without-pip", path)
    return path / "bin" / "python"


def pip_install(python: Path, *targets: str | Path) -> None:
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME]
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        *targets, *pins)  # fmt: skip


def clean_env(project: Path) -> dict[str, str]:
    # Nothing of this checkout on the path: the project sees only what the venv installed.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.update(PYTHONPATH=str(project), DJANGO_SETTINGS_MODULE="settings", PYTHONNOUSERSITE="1")
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The sdist first, then the wheel built from it: a file missing from the sdist fails here.
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT)
    return out


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path) -> None:
    wheel = next(dist.glob("django_thumbkit-*-py3-none-any.whl"))
    sdist = next(dist.glob("django_thumbkit-*.tar.gz"))
    output = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    assert output.count("PASSED") == 2

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    assert metadata["License-Expression"] == "MIT"
    assert "thumbkit/py.typed" in names
    assert "thumbkit/migrations/0001_initial.py" in names
    assert "thumbkit/templates/thumbkit/admin/thumbnail.html" in names
    assert not [n for n in names if n.startswith(("tests/", "example/", "benchmarks/"))]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Issues", "Changelog"}
    classifiers = metadata.get_all("Classifier")
    for version in ("Framework :: Django :: 5.2", "Framework :: Django :: 6.0",
                    "Framework :: Django :: 6.1", "Programming Language :: Python :: 3.11",
                    "Programming Language :: Python :: 3.12",
                    "Programming Language :: Python :: 3.13"):  # fmt: skip
        assert version in classifiers
    # The long description is the README, rendered as Markdown.
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().startswith("# thumbkit")


def test_the_wheel_runs_a_project_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    pip_install(python, next(dist.glob("*.whl")))
    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text(textwrap.dedent(SETTINGS))
    env = clean_env(project)

    checked = run(python, "-m", "django", "check", cwd=project, env=env)
    assert "System check identified no issues" in checked
    out = json.loads(run(python, "-c", textwrap.dedent(SCRIPT), cwd=project, env=env))

    assert Path(out["module"]).is_relative_to(tmp_path / "venv")
    assert (out["width"], out["height"], out["records"]) == (40, 40, 1)
    assert out["url"] == f"/media/{out['name']}"
    with Image.open(project / "media" / out["name"]) as image:
        assert (image.format, image.size) == ("JPEG", (40, 40))
        assert image.getpixel((20, 20))[0] > 150  # the red source, cropped, not a blank


def test_the_checkout_installs_with_pip(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv")
    # The README's ``pip install /path/to/checkout`` (Django is the other test's business).
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", ROOT)
    code = (
        "import importlib.metadata as m; d = m.distribution('django-thumbkit');"
        "print(d.locate_file('thumbkit/__init__.py')); print(d.version);"
        "print(sorted(d.metadata.get_all('License-File')))"
    )
    module, version, licenses = run(python, "-c", code, env=clean_env(tmp_path)).splitlines()
    assert Path(module).is_file()
    assert Path(module).is_relative_to(tmp_path / "venv")
    assert version == importlib.metadata.version("django-thumbkit")
    assert licenses == "['LICENSE']"
