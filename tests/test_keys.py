"""Keys and names: pinned by golden values, storage-safe, bounded, inside the prefix."""

from __future__ import annotations

import re

import pytest
from django.core.files.storage import default_storage

from thumbkit.core.spec import parse
from thumbkit.lookup.keys import KEY_VERSION, default_name, safe_stem, source_key, thumbnail_key
from thumbkit.lookup.source import MAX_NAME_LENGTH, Source, coerce

# Computed once with KEY_VERSION "1" and written down: if any of these change, every
# existing thumbnail is orphaned. Change them only together with KEY_VERSION and a
# migration note in the changelog.
GOLDEN = [
    (
        ("photos/cat.jpg", ""),
        "100x100 crop=center",
        "JPEG",
        "fe77ea1787cf53f083d60df3a74721e7",
        "52416e7a9e0e6b2aaa88b195de2ef5bf",
        "thumbs/52/41/cat-52416e7a9e0e6b2a.jpg",
    ),
    (
        ("photos/cat.jpg", "v2"),
        "100x100 crop=center",
        "JPEG",
        # Every version of a file shares its source key (one index); thumbnail keys differ.
        "fe77ea1787cf53f083d60df3a74721e7",
        "ec21840b27e0e7b3d583ba0c1749dbe5",
        "thumbs/ec/21/cat-ec21840b27e0e7b3.jpg",
    ),
    (
        ("uploads/Été 2024/Beach Photo.PNG", ""),
        "320x240 crop=center format=webp quality=80",
        "WEBP",
        "42ab7174e10f3f58bc4cd7bc7e50b203",
        "20195580c02f3a70aba966ba2c5593b2",
        "thumbs/20/19/beach-photo-20195580c02f3a70.webp",
    ),
    (
        ("a/b/c.gif", ""),
        "x50 upscale",
        "GIF",
        "29d5fc53ace1bcbfb38731d710af6a62",
        "dfa27445a6e67a522b341cab670006b6",
        "thumbs/df/a2/c-dfa27445a6e67a52.gif",
    ),
]

SAFE_NAME = re.compile(r"^[a-z0-9/_.-]+$")


def test_key_version_is_pinned() -> None:
    assert KEY_VERSION == "1"


@pytest.mark.parametrize(
    ("source", "text", "fmt", "skey", "tkey", "name"), GOLDEN, ids=lambda v: str(v)[:20]
)
def test_golden_keys_and_names(
    source: tuple[str, str], text: str, fmt: str, skey: str, tkey: str, name: str
) -> None:
    src = coerce(source[0], version=source[1])
    spec = parse(text)
    assert source_key(src) == skey
    assert thumbnail_key(src, spec) == tkey
    assert default_name(src, spec, tkey, fmt, "thumbs") == name


def test_golden_keys_do_not_depend_on_how_the_spec_was_written() -> None:
    src = coerce("photos/cat.jpg")
    expected = GOLDEN[0][4]
    for written in ("100x100 crop", "100x100 crop=50%,50%", parse("100x100", crop="50% 50%")):
        assert thumbnail_key(src, parse(written)) == expected


def test_keys_separate_storages_versions_and_sources() -> None:
    spec = parse("100x100")
    sources = [
        Source("photos/cat.jpg", default_storage, "default"),
        Source("photos/cat.jpg", default_storage, "media"),
        Source("photos/cat.jpg", default_storage, "default", "2"),
        Source("photos/cat2.jpg", default_storage, "default"),
    ]
    assert len({thumbnail_key(s, spec) for s in sources}) == len(sources)
    # Versions of one file share the source key: one index holds every version's records.
    assert len({source_key(s) for s in sources}) == len(sources) - 1
    assert source_key(sources[0]) == source_key(sources[2])
    # A source key is never a thumbnail key, even for the same identity.
    assert source_key(sources[0]) != thumbnail_key(sources[0], spec)


def test_keys_are_fixed_length_hex() -> None:
    src = coerce("x" * (MAX_NAME_LENGTH - 4) + ".jpg")  # the longest name coerce accepts
    for key in (source_key(src), thumbnail_key(src, parse("10"))):
        assert re.fullmatch(r"[0-9a-f]{32}", key)


HOSTILE = [
    "../../etc/passwd",
    "../../../outside.jpg",
    "/absolute/path/to/photo.jpg",
    "C:\\Users\\evil\\..\\..\\photo.jpg",
    "..\\..\\windows.jpg",
    "..",
    ".",
    "./.hidden.jpg",
    "..jpg",
    "photos/name with spaces & symbols!?#%.jpeg",
    "photos/UPPER.JPG",
    "photos/naïve café 東京.png",
    "photos/" + "日本語" * 100 + ".jpg",
    "photos/" + "é" * 300 + ".jpg",
    "photos/" + "a" * 300 + ".jpg",
    "photos/\x00nul\nnewline\ttab.jpg",
    "photos/no-extension",
    "photos/-_-leading.jpg",
    "",
]


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "GIF"])
def test_names_are_safe_bounded_and_inside_the_prefix(name: str, fmt: str) -> None:
    src = Source(name, default_storage, "default")
    spec = parse("100x100")
    key = thumbnail_key(src, spec)
    out = default_name(src, spec, key, fmt, "thumbs")
    assert SAFE_NAME.match(out), out
    assert out.startswith("thumbs/")
    segments = out.split("/")
    assert ".." not in segments
    assert "." not in segments
    assert "" not in segments
    assert "\\" not in out
    # prefix + 2 fan-out levels + stem (<= 40) + "-" + 16 key chars + extension
    assert len(out) <= len("thumbs/") + 6 + 40 + 1 + 16 + 5
    assert key[:16] in out


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("photos/cat.jpg", "cat"),
        ("photos/UPPER.JPG", "upper"),
        ("uploads/Beach Photo.png", "beach-photo"),
        ("photos/naïve café.png", "naive-cafe"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\holiday.jpg", "holiday"),
        ("photos/" + "日本語" * 100 + ".jpg", "image"),
        ("photos/" + "a" * 300 + ".jpg", "a" * 40),
        ("..", "image"),
    ],
)
def test_the_source_stem_appears(name: str, stem: str) -> None:
    src = Source(name, default_storage, "default")
    spec = parse("10")
    out = default_name(src, spec, thumbnail_key(src, spec), "JPEG", "thumbs")
    assert safe_stem(name) == stem
    assert out.rsplit("/", 1)[1] == f"{stem}-{thumbnail_key(src, spec)[:16]}.jpg"


def test_an_empty_prefix_never_makes_an_absolute_name() -> None:
    src = coerce("photos/cat.jpg")
    spec = parse("10")
    key = thumbnail_key(src, spec)
    out = default_name(src, spec, key, "JPEG", "")
    assert out == f"{key[:2]}/{key[2:4]}/cat-{key[:16]}.jpg"
    assert (
        default_name(src, spec, key, "JPEG", "a/b")
        == f"a/b/{key[:2]}/{key[2:4]}/cat-{key[:16]}.jpg"
    )
