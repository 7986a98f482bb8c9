"""Reading a source reserves memory for its size, not for LIMITS["MAX_SOURCE_BYTES"]."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import django
    from django.conf import settings

    root = sys.argv[1]
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "thumbkit"],
        DATABASES={},
        MEDIA_ROOT=root,
        THUMBKIT={"LIMITS": {"MAX_SOURCE_BYTES": 512 * 1024 * 1024}},
    )
    django.setup()
    from django.core.files.base import ContentFile, File
    from django.core.files.storage import default_storage
    from thumbkit.lookup.source import coerce

    name = default_storage.save("small.jpg", ContentFile(b"x" * 1000))
    with open(f"{root}/upload.jpg", "wb") as handle:
        handle.write(b"y" * 1000)
    upload = File(open(f"{root}/upload.jpg", "rb"), name="upload.jpg")

    # Room for what is mapped now plus 64 MiB: a read that reserved the 512 MiB cap fails.
    with open("/proc/self/status") as status:
        vm = next(int(l.split()[1]) for l in status if l.startswith("VmSize:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 1024 * 1024,) * 2)
    try:
        sizes = [len(coerce(name).read()), len(coerce(upload).read())]
        print(json.dumps({"ok": sizes}))
    except MemoryError:
        print(json.dumps({"ok": None}))
    """
)


def test_a_small_source_reads_within_its_own_size(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={"PYTHONPATH": f"{root / 'src'}:{root}", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"ok": [1000, 1000]}
