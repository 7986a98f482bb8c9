"""The troubleshooting page names every system check id and every exception thumbkit has."""

from __future__ import annotations

import re
from pathlib import Path

import thumbkit.exceptions

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")


def test_every_check_id_has_a_row() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src").rglob("*.py"))
    ids = set(re.findall(r"thumbkit\.E\d{3}", source))
    assert len(ids) >= 17
    assert sorted(i for i in ids if f"| `{i}` |" not in PAGE) == []


def test_every_exception_has_a_row() -> None:
    names = [
        name
        for name, value in vars(thumbkit.exceptions).items()
        if isinstance(value, type) and issubclass(value, thumbkit.exceptions.ThumbkitError)
    ]
    assert "SizeNotAllowed" in names
    assert [name for name in names if f"| `{name}` |" not in PAGE] == []
