"""Predicted records keep the output size when the source's size is known without I/O.

While the metadata store is down (``STORE_FALLBACK = "predict"``) and for the optimistic
strategy, lookups return a predicted record. Every tag that renders it must either give the
size the engine really makes (checked by rendering again once the store is back, which makes
the file, and reading the file's size back) or leave the size out: never ``width="0"`` and
never a guess.

Sources, each a 400x300 JPEG:

* ``manifest``: a thumbkit ImageField with a manifest column, uploaded through the field
  (the upload's oriented size goes into the manifest);
* ``manifest-rotated``: the same, stored 400x300 with EXIF orientation 6 (shown 300x400);
* ``dims`` / ``dims-rotated``: a plain ``models.ImageField`` with width_field/height_field,
  filled by Django (which ignores EXIF: 400x300 for both);
* ``plain``: a plain ImageField without stored dimensions.
"""

from __future__ import annotations

import io
import random
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models
from django.db.models.fields.files import FieldFile
from django.template import Context, Template
from django.test.utils import isolate_apps
from PIL import Image

from tests import images
from tests.api_support import Images
from tests.conftest import thumbkit_settings
from tests.s3 import Media
from tests.testapp.models import ManifestProfile, Photo
from thumbkit import conf
from thumbkit.admin import AdminThumbnail
from thumbkit.core.engines import get_engine
from thumbkit.core.spec import parse
from thumbkit.exceptions import ThumbkitError
from thumbkit.lookup import api, batch
from thumbkit.lookup.fallback import planned_output, predicted_size
from thumbkit.lookup.keys import source_key
from thumbkit.lookup.registry import register
from thumbkit.lookup.source import coerce
from thumbkit.lookup.sourcesize import Known, measure
from thumbkit.lookup.thumbnail import UNKNOWN, Placeholder, PredictedThumbnail, Thumbnail

pytestmark = pytest.mark.django_db

SOURCE = (400, 300)
ROTATED = 6  # EXIF: rotate 90°, so the 400x300 stored pixels show as 300x400


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def store_down() -> Iterator[None]:
    """A redis store on a port where nothing listens: every lookup gets StoreUnavailable."""
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with thumbkit_settings(STORE="redis", STORE_OPTIONS={"url": url}, UPLOAD="off"):
        yield


def jpeg(orientation: int = 1) -> bytes:
    if orientation == 1:
        return images.jpeg(SOURCE)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return images.jpeg(SOURCE, exif=exif.tobytes())


# --- the sources ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sized_model() -> Iterator[type[models.Model]]:
    """A plain ImageField with Django's width_field/height_field (rows are never saved)."""
    with isolate_apps("tests.testapp"):

        class SizedPhoto(models.Model):
            image = models.ImageField(upload_to="sized", width_field="w", height_field="h")
            w = models.PositiveIntegerField(null=True)
            h = models.PositiveIntegerField(null=True)

            class Meta:
                app_label = "testapp"

            def __str__(self) -> str:
                return self.image.name or ""

        yield SizedPhoto


@pytest.fixture(params=["pillow", "vips"])
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both engines: each must make the size predicted (the vips engine plans the same way)."""
    with thumbkit_settings(ENGINE=request.param):
        yield str(request.param)


Source = Callable[[], FieldFile]
KINDS = ["manifest", "manifest-rotated", "dims", "dims-rotated", "plain"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def source(kind: str, fs_media: Media, sized_model: type[models.Model]) -> tuple[str, Source]:
    """``(kind, fresh)``: ``fresh()`` gives the source file of a freshly loaded row each time
    (no memo carried between the renders)."""
    data = jpeg(ROTATED if kind.endswith("rotated") else 1)
    if kind.startswith("manifest"):
        with thumbkit_settings(UPLOAD="off"):
            row = ManifestProfile.objects.create(photo=ContentFile(data, name="m.jpg"))
        return kind, lambda: ManifestProfile.objects.get(pk=row.pk).photo
    name = default_storage.save("sources/s.jpg", ContentFile(data))
    if kind == "plain":
        row = Photo.objects.create(image=name)
        return kind, lambda: Photo.objects.get(pk=row.pk).image
    measured: Any = sized_model(image=name)  # Django fills w and h from the file
    dims = (measured.w, measured.h)
    assert dims == SOURCE  # unrotated, whatever the EXIF says
    return kind, lambda: sized_model(image=name, w=dims[0], h=dims[1]).image  # as loaded


def knows(kind: str, independent: bool) -> bool:
    """Whether the predicted size is known: the manifest always; Django's unrotated
    dimensions only for specs whose output is the same both ways round."""
    if kind.startswith("manifest"):
        return True
    return kind.startswith("dims") and independent


# --- rendering ---------------------------------------------------------------------------------


def img_of(html: str) -> dict[str, str | None]:
    parser = Images()
    parser.feed(html)
    assert len(parser.found) == 1, html
    return parser.found[0]


def real_size(url: str | None) -> tuple[int, int]:
    assert url is not None
    assert url.startswith("/media/"), url
    with default_storage.open(url.removeprefix("/media/"), "rb") as handle:
        data = handle.read()
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def render(text: str, file: FieldFile) -> str:
    return Template("{% load thumbkit %}" + text).render(Context({"src": file}))


def admin(spec: str) -> Callable[[FieldFile], str]:
    def column(file: FieldFile) -> str:
        return str(AdminThumbnail(image_field=file.field.attname, spec=spec)(file.instance))

    return column


# (form, how it renders, whether its size is the same for a 400x300 source both ways round)
FORMS: list[tuple[str, Callable[[FieldFile], str], bool]] = [
    ("inline fit", lambda f: render('{% thumbnail src "200x200" -- alt="x" %}', f), False),
    ("inline crop", lambda f: render('{% thumbnail src "100x100" crop="center" %}', f), True),
    ("inline wide crop", lambda f: render('{% thumbnail src "300x100 crop" %}', f), True),
    (
        "block",
        lambda f: render(
            '{% thumbnail src "x150" as t %}<img src="{{ t.url }}" width="{{ t.width }}"'
            ' height="{{ t.height }}">{% endthumbnail %}',
            f,
        ),
        False,
    ),
    (
        "block crop",
        lambda f: render(
            '{% thumbnail src "100x100 crop" as t %}<img src="{{ t.url }}"'
            ' width="{{ t.width }}" height="{{ t.height }}">{% endthumbnail %}',
            f,
        ),
        True,
    ),
    (
        "block if",
        lambda f: render(
            '{% thumbnail src "200x200" as t %}<img src="{{ t.url }}"{% if t.width %}'
            ' width="{{ t.width }}" height="{{ t.height }}"{% endif %}>{% endthumbnail %}',
            f,
        ),
        False,
    ),
    ("imagekit fill", lambda f: render('{% thumbnail "100x100" src %}', f), True),
    ("imagekit fit", lambda f: render('{% thumbnail "200x" src -- alt="x" %}', f), False),
    (
        "imagekit as",
        lambda f: render(
            '{% thumbnail "100x100" src as th %}<img src="{{ th.url }}"'
            ' width="{{ th.width }}" height="{{ th.height }}">',
            f,
        ),
        True,
    ),
    (
        "generateimage",
        lambda f: render(
            '{% generateimage "thumbkit:thumbnail" source=src width=100 height=100 %}', f
        ),
        True,
    ),
    (
        "generateimage fit",
        lambda f: render('{% generateimage "thumbkit:thumbnail" source=src width=200 %}', f),
        False,
    ),
    (
        "picture",
        lambda f: render(
            '{% picture src "200x100 crop" widths="100,200" formats="webp,jpeg" %}', f
        ),
        True,
    ),
    (
        "picture fit",
        lambda f: render('{% picture src "200x200" widths="100,200" formats="webp,jpeg" %}', f),
        False,
    ),
    ("admin", admin("100x100 crop"), True),
    ("admin fit", admin("200x200"), False),
]


@pytest.mark.parametrize(("form", "draw", "independent"), FORMS, ids=[f[0] for f in FORMS])
def test_every_tag_renders_the_real_size_or_none_while_the_store_is_down(
    source: tuple[str, Source],
    form: str,
    draw: Callable[[FieldFile], str],
    independent: bool,
    fs_media: Media,
    engine: str,
) -> None:
    kind, fresh = source
    with store_down():
        down = img_of(draw(fresh()))
    assert not (fs_media.root / "thumbs").exists()  # nothing was made while it was down
    up = img_of(draw(fresh()))  # the store is back: the tag makes the file
    made = real_size(up["src"])
    assert (up["width"], up["height"]) == (str(made[0]), str(made[1]))
    assert down["src"] == up["src"]  # the predicted name is the real one
    if knows(kind, independent):
        assert (down["width"], down["height"]) == (up["width"], up["height"])
    elif form.startswith(("block", "imagekit as")) and "if" not in form:
        # ``width="{{ t.width }}"`` with the size unknown: empty, which browsers ignore.
        assert (down["width"], down["height"]) == ("", "")
    else:
        assert "width" not in down
        assert "height" not in down


def test_the_rotated_manifest_size_is_the_oriented_one(fs_media: Media) -> None:
    with thumbkit_settings(UPLOAD="off"):
        row = ManifestProfile.objects.create(photo=ContentFile(jpeg(ROTATED), name="r.jpg"))
    stored = ManifestProfile.objects.get(pk=row.pk)
    key = source_key(coerce(stored.photo))
    assert stored.photo_thumbs == {"v": 1, "source": key, "size": [300, 400]}
    # A manifest with only the size says nothing about records: the store is asked.
    assert batch.from_manifest(stored.photo_thumbs, key) is None
    with store_down():
        thumb = api.get_thumbnail(stored.photo, "200x200")
    assert isinstance(thumb, PredictedThumbnail)
    assert (thumb.width, thumb.height) == (150, 200)
    made = api.get_thumbnail(ManifestProfile.objects.get(pk=row.pk).photo, "200x200")
    assert (made.width, made.height) == real_size(made.url) == (150, 200)


def test_generation_keeps_the_size_in_the_manifest(
    fs_media: Media, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # UPLOAD "sync": made after commit
        row = ManifestProfile.objects.create(photo=ContentFile(jpeg(), name="g.jpg"))
    manifest = ManifestProfile.objects.get(pk=row.pk).photo_thumbs
    assert manifest["size"] == [400, 300]
    assert len(manifest["records"]) == 2  # the declared thumbnails, made after commit
    loaded = ManifestProfile.objects.get(pk=row.pk)
    with store_down():
        other = api.get_thumbnail(loaded.photo, "50x50")  # not declared: predicted
    assert (other.width, other.height) == (50, 38)


def test_old_manifests_without_a_size_stay_readable(
    fs_media: Media, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        row = ManifestProfile.objects.create(photo=ContentFile(jpeg(), name="o.jpg"))
    old = dict(ManifestProfile.objects.get(pk=row.pk).photo_thumbs)
    del old["size"]  # as written before sizes were kept
    ManifestProfile.objects.filter(pk=row.pk).update(photo_thumbs=old)
    loaded = ManifestProfile.objects.get(pk=row.pk)
    key = source_key(coerce(loaded.photo))
    assert batch.manifest_size(old, key) is None
    assert set(batch.from_manifest(old, key) or {}) == {r["key"] for r in old["records"]}
    with store_down():
        declared = loaded.photo.thumbnails.small  # from the manifest: the stored record
        other = api.get_thumbnail(loaded.photo, "50x50")
    assert type(declared) is Thumbnail
    assert (declared.width, declared.height) == (100, 100)
    assert isinstance(other, PredictedThumbnail)
    assert (other.width, other.height) == (0, 0)  # no size known: none guessed


# --- the optimistic strategy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "independent"), [("200x200", False), ("100x100 crop", True), ("x150", False)]
)
def test_optimistic_predictions_have_the_size_generation_makes(
    source: tuple[str, Source], spec: str, independent: bool, engine: str
) -> None:
    kind, fresh = source
    guess = api.get_thumbnail(fresh(), spec, strategy="optimistic")
    assert isinstance(guess, PredictedThumbnail)
    html = img_of(render(f'{{% thumbnail src "{spec}" strategy="optimistic" %}}', fresh()))
    assert api.ensure(fresh(), [api.get_spec(spec)]) == 1
    made = api.get_thumbnail(fresh(), spec, strategy="optimistic")
    assert type(made) is Thumbnail  # the stored record now
    assert made.name == guess.name
    assert made.size == real_size(made.url)
    if knows(kind, independent):
        assert guess.size == made.size
        assert (html["width"], html["height"]) == (str(made.width), str(made.height))
    else:
        assert guess.size == (0, 0)
        assert "width" not in html
        assert "height" not in html


def test_a_predicted_record_with_a_size_is_not_remembered_as_made(fs_media: Media) -> None:
    with thumbkit_settings(UPLOAD="off"):
        row = ManifestProfile.objects.create(photo=ContentFile(jpeg(), name="k.jpg"))
    file = ManifestProfile.objects.get(pk=row.pk).photo
    first = api.get_thumbnail(file, "100x100 crop", strategy="optimistic")
    assert isinstance(first, PredictedThumbnail)
    assert first.size == (100, 100)
    api.ensure(file, [api.get_spec("100x100 crop")])
    again = api.get_thumbnail(file, "100x100 crop", strategy="optimistic")
    assert type(again) is Thumbnail  # asked the store again: the memo did not keep the guess


# --- the pieces ----------------------------------------------------------------------------------


def test_unknown_sizes_are_zero_for_code_and_empty_on_a_page() -> None:
    assert UNKNOWN == 0
    assert not UNKNOWN
    assert isinstance(UNKNOWN, int)
    assert f"{UNKNOWN}" == "0"
    assert f"{UNKNOWN:>3}" == "  0"
    assert f"{UNKNOWN:d}" == "0"
    page = Template('[{{ w }}][{% if w %}x{% endif %}][{{ w|default:"?" }}]')
    assert page.render(Context({"w": UNKNOWN})) == "[][][?]"
    assert Template("{{ p.width }}x{{ p.height }}").render(Context({"p": Placeholder("/p.png")}))
    assert str(Placeholder("/p.png").width) == ""


def test_predicted_records_survive_copies_and_pickles() -> None:
    import copy
    import json
    import pickle

    record = PredictedThumbnail(
        key="k", name="n.jpg", width=UNKNOWN, height=UNKNOWN, format="JPEG",
        storage_alias="default", source_key="s", spec="100x100", source_name="a.jpg",
    )  # fmt: skip
    for copied in (copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
        assert type(copied) is PredictedThumbnail
        assert str(copied.width) == ""
    assert json.loads(record.to_json())["width"] == 0
    assert record.ratio == 0.0  # no ZeroDivisionError in a template


@pytest.mark.parametrize(
    ("spec", "size", "expected"),
    [
        ("200x200", (400, 300), (200, 150)),
        ("200x200", (300, 400), (150, 200)),
        ("100x100 crop", (400, 300), (100, 100)),
        ("300x300", (100, 50), (100, 50)),  # no upscaling
        ("300x300 upscale", (100, 50), (300, 150)),
        ("100x100 padding=true", (400, 300), (100, 100)),
    ],
)
def test_planned_outputs_follow_the_engine_geometry(
    spec: str, size: tuple[int, int], expected: tuple[int, int], save_source: Any
) -> None:
    assert planned_output(api.get_spec(spec), size) == expected
    made = api.get_thumbnail(save_source(images.jpeg(size), name=f"photos/{size[0]}.jpg"), spec)
    assert made.size == expected


def test_a_tall_source_is_predicted_at_the_size_the_engine_clamps_it_to(save_source: Any) -> None:
    spec, size = api.get_spec("1280"), (1080, 6000)  # a phone screenshot
    with thumbkit_settings(LIMITS={"MAX_OUTPUT_SIDE": 4096}):
        predicted = planned_output(spec, size)
        made = api.get_thumbnail(save_source(images.jpeg(size), name="photos/tall.jpg"), spec)
    assert predicted == made.size == real_size(made.url)
    assert max(made.size) == 4096  # clamped, not refused


@pytest.mark.parametrize("engine_name", ["pillow", "vips"])
def test_sampled_predictions_equal_what_the_engine_makes(engine_name: str) -> None:
    """Random sources and specs (seeded): a prediction is the engine's output size, or None.

    Processors-only specs (imagekit's thumbnail generator) run on a JPEG decoded at a DCT
    scale; their size is predicted only when every decode the engine may pick agrees.
    """
    rng = random.Random(9)
    checked, unknown = 0, 0
    with thumbkit_settings(ENGINE=engine_name):
        settings, engine = conf.get_settings(), get_engine()
        for _ in range(25):
            size = (rng.randint(40, 1600), rng.randint(40, 1600))
            data = images.encode(Image.new("RGB", size, (100, 150, 200)), "JPEG")
            w, h = rng.randint(10, 500), rng.randint(10, 500)
            crop = rng.choice(["center", "top", "10% 80%", "smart"])
            specs = [
                parse(f"{w}x{h}"),
                parse(f"{w}x{h}", crop=crop),
                parse(f"{w}", upscale=rng.random() < 0.3),
                parse(f"x{h}", padding=True),
                *(
                    register.make("thumbkit:thumbnail", source="x.jpg", width=a, height=b).spec
                    for a, b in ((w, h), (w, None), (None, h))
                ),
            ]
            for spec in specs:
                predicted = planned_output(spec, size)
                try:
                    out = engine.render(data, [spec], settings)[0]
                except ThumbkitError:
                    assert predicted is None, (size, spec.canonical)
                    continue
                checked += 1
                unknown += predicted is None
                assert predicted in (None, (out.width, out.height)), (size, spec.canonical)
    assert checked > 150
    assert unknown < checked // 4  # most are known: the rule is not "never predict"


def test_an_output_over_the_limits_is_not_predicted() -> None:
    with thumbkit_settings(LIMITS={"MAX_OUTPUT_PIXELS": 1000}):
        spec = api.get_spec("100x100 crop")
        assert planned_output(spec, (400, 300)) is None
        assert predicted_size(spec, Known((400, 300), oriented=True)) is None


def test_unrotated_sizes_count_only_when_both_orientations_agree() -> None:
    fit, crop = api.get_spec("200x200"), api.get_spec("100x100 crop")
    stored = Known((400, 300), oriented=False)
    assert predicted_size(fit, stored) is None
    assert predicted_size(crop, stored) == (100, 100)
    assert predicted_size(fit, Known((400, 300), oriented=True)) == (200, 150)
    assert predicted_size(fit, Known((300, 300), oriented=False)) == (200, 200)  # square


def test_measure_reads_the_oriented_size_from_the_header() -> None:
    assert measure(io.BytesIO(jpeg())) == (400, 300)
    assert measure(io.BytesIO(jpeg(ROTATED))) == (300, 400)
    assert measure(io.BytesIO(jpeg(3))) == (400, 300)  # 180°: same size
    assert measure(io.BytesIO(images.png((40, 30)))) == (40, 30)
    assert measure(io.BytesIO(b"not an image")) is None
    exif = Image.Exif()
    exif[0x0112] = ROTATED
    early = images.encode(images.make_image((40, 30)), "PNG", exif=exif.tobytes())
    assert measure(io.BytesIO(early)) == (30, 40)
    # An eXIf chunk after the pixel data: only a decode would see it, so no size is given.
    late = _png_with_late_exif(exif.tobytes())
    assert measure(io.BytesIO(late)) is None


def _png_with_late_exif(exif: bytes) -> bytes:
    import struct
    import zlib

    data = images.png((40, 30))
    end = data.rindex(b"IEND") - 4
    body = b"eXIf" + exif
    chunk = struct.pack(">I", len(exif)) + body + struct.pack(">I", zlib.crc32(body))
    return data[:end] + chunk + data[end:]
