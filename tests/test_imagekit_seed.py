"""Every django-imagekit example of the seed document (shared/seeds/004), with thumbkit's names.

Each test is one example of imagekit's README or docs, changed only where the guide
"Coming from django-imagekit" says to change it: ``imagekit`` -> ``thumbkit`` in imports,
``imagekit.models`` -> ``thumbkit.fields``, ``{% load imagekit %}`` -> ``{% load thumbkit %}``.
Each checks the documented sizes on the files as stored.
"""

from __future__ import annotations

import glob
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.template import Context, Template
from django.test import override_settings
from PIL import Image, ImageDraw

from tests import images
from tests.api_support import Images
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo
from thumbkit import ImageSpec, register
from thumbkit.models import ThumbnailRecord
from thumbkit.processors import Adjust, ResizeToFill, TrimBorderColor

pytestmark = pytest.mark.django_db


# --- the seed's spec classes ------------------------------------------------------------


class Thumbnail(ImageSpec):
    processors = [ResizeToFill(100, 50)]
    format = "JPEG"
    options = {"quality": 60}


class Watermark:
    """The seed's custom processor: any object with process(image)."""

    def process(self, image: Image.Image) -> Image.Image:
        image = image.convert("RGB")
        ImageDraw.Draw(image).rectangle((0, 0, 9, 9), fill=(255, 0, 255))
        return image


class MySpec(ImageSpec):
    processors = [TrimBorderColor(), Adjust(contrast=1.2, sharpness=1.1), Watermark()]
    format = "JPEG"
    options = {"quality": 60}


# --- helpers ----------------------------------------------------------------------------


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def ids() -> Iterator[list[str]]:
    """Generator ids a test registers, unregistered afterwards (the registry is global)."""
    registered: list[str] = []
    yield registered
    for id in registered:
        register.unregister(id)


def registered(ids: list[str], id: str, generator: Any) -> None:
    register.unregister(id)
    register.generator(id, generator)
    ids.append(id)


def size_of(path_or_bytes: Path | bytes) -> tuple[tuple[int, int], str]:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        return img.size, str(img.format)


def on_disk(media: Path, url: str) -> tuple[tuple[int, int], str]:
    assert url.startswith("/media/"), url
    return size_of(media / url.removeprefix("/media/"))


def render(text: str, **context: Any) -> str:
    return Template("{% load thumbkit %}" + text).render(Context(context))


def imgs(html: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return parser.found


def photo(name: str = "me.jpg", size: tuple[int, int] = (400, 300)) -> Photo:
    return Photo.objects.create(image=ContentFile(images.jpeg(size), name=name))


def records() -> int:
    return ThumbnailRecord.objects.exclude(spec="@version").count()


# --- README: "Defining Specs Outside of Models" -----------------------------------------


def test_image_spec_outside_models_generate_and_write_to_a_file(tmp_path: Path) -> None:
    (tmp_path / "myimage.jpg").write_bytes(images.jpeg((640, 480)))
    source_file = open(tmp_path / "myimage.jpg", "rb")  # noqa: SIM115  (the seed's code)
    image_generator = Thumbnail(source=source_file)
    result = image_generator.generate()
    source_file.close()

    dest = open(tmp_path / "dest.jpg", "wb")  # noqa: SIM115
    dest.write(result.read())
    dest.close()

    assert size_of(tmp_path / "dest.jpg") == ((100, 50), "JPEG")
    assert records() == 0  # generate() keeps nothing


# --- "Using Specs In Templates": register.generator + generateimage ---------------------


def test_generateimage_tag_outputs_an_img(media: Path, ids: list[str]) -> None:
    registered(ids, "myapp:thumbnail", Thumbnail)
    source_image = photo().image
    html = render(
        "{% generateimage 'myapp:thumbnail' source=source_image %}", source_image=source_image
    )
    [img] = imgs(html)
    assert (img["width"], img["height"]) == ("100", "50")
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


def test_generateimage_tag_with_html_attributes(media: Path, ids: list[str]) -> None:
    registered(ids, "myapp:thumbnail", Thumbnail)
    source_image = photo().image
    html = render(
        "{% generateimage 'myapp:thumbnail' source=source_image"
        ' -- alt="A picture of Me" id="mypicture" %}',
        source_image=source_image,
    )
    [img] = imgs(html)
    assert img["alt"] == "A picture of Me"
    assert img["id"] == "mypicture"
    assert (img["width"], img["height"]) == ("100", "50")
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


def test_generateimage_tag_as_an_assignment(media: Path, ids: list[str]) -> None:
    registered(ids, "myapp:thumbnail", Thumbnail)
    source_image = photo().image
    html = render(
        "{% generateimage 'myapp:thumbnail' source=source_image as th %}"
        '<a href="{{ th.url }}">Click to download a cool {{ th.width }} x {{ th.height }}'
        " image!</a>",
        source_image=source_image,
    )
    assert "Click to download a cool 100 x 50 image!" in html
    href = html.split('href="')[1].split('"')[0]
    assert on_disk(media, href) == ((100, 50), "JPEG")


# --- "thumbnail" tag, imagekit's argument order ------------------------------------------


def test_thumbnail_tag_imagekit_order(media: Path) -> None:
    source_image = photo().image
    [img] = imgs(render("{% thumbnail '100x50' source_image %}", source_image=source_image))
    assert (img["width"], img["height"]) == ("100", "50")
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


def test_thumbnail_tag_imagekit_order_with_attributes_and_as(media: Path) -> None:
    source_image = photo().image
    html = render(
        '{% thumbnail \'100x50\' source_image -- alt="A picture of Me" id="mypicture" %}'
        "{% thumbnail '100x50' source_image as th %}[{{ th.url }} {{ th.width }}x{{ th.height }}]",
        source_image=source_image,
    )
    [img] = imgs(html)
    assert (img["alt"], img["id"], img["width"], img["height"]) == (
        "A picture of Me",
        "mypicture",
        "100",
        "50",
    )
    assert f"[{img['src']} 100x50]" in html  # the same file both ways
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


def test_thumbnail_tag_uses_the_imagekit_thumbnail_generator(media: Path) -> None:
    # imagekit:thumbnail crops to the exact size when both sides are given (not sorl's fit).
    source_image = photo(size=(300, 400)).image
    [img] = imgs(render("{% thumbnail '100x50' source_image %}", source_image=source_image))
    assert on_disk(media, str(img["src"]))[0] == (100, 50)


# --- "Using Specs in Forms" -------------------------------------------------------------


def test_forms_processed_image_field(ids: list[str]) -> None:
    from thumbkit.forms import ProcessedImageField

    ids.append("myapp:profile:avatar_thumbnail_form")

    class ProfileForm(forms.Form):
        avatar_thumbnail = ProcessedImageField(
            spec_id="myapp:profile:avatar_thumbnail_form",
            processors=[ResizeToFill(100, 50)],
            format="JPEG",
            options={"quality": 60},
        )

    upload = SimpleUploadedFile("me.png", images.png((640, 480)), content_type="image/png")
    form = ProfileForm(data={}, files={"avatar_thumbnail": upload})
    assert form.is_valid(), form.errors
    cleaned = form.cleaned_data["avatar_thumbnail"]
    cleaned.seek(0)
    assert size_of(cleaned.read()) == ((100, 50), "JPEG")
    assert cleaned.name.endswith(".jpg")


# --- "Processors" -------------------------------------------------------------------------


def bordered(inner: tuple[int, int] = (160, 60), border: int = 20) -> bytes:
    """A picture inside a plain white border (what TrimBorderColor takes off)."""
    width, height = inner[0] + 2 * border, inner[1] + 2 * border
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(images.make_image(inner), (border, border))
    return images.encode(canvas, "PNG")


def test_processors_trim_border_color_and_adjust(media: Path) -> None:
    class TrimAndAdjust(ImageSpec):
        processors = [TrimBorderColor(), Adjust(contrast=1.2, sharpness=1.1)]
        format = "JPEG"
        options = {"quality": 60}

    source = Photo.objects.create(image=ContentFile(bordered(), name="framed.png")).image
    made = TrimAndAdjust(source=source).thumbnail()
    assert (made.width, made.height, made.format) == (160, 60, "JPEG")
    assert on_disk(media, made.url) == ((160, 60), "JPEG")


def test_custom_watermark_processor(media: Path) -> None:
    source = Photo.objects.create(image=ContentFile(bordered(), name="framed.png")).image
    made = MySpec(source=source).generate()
    assert (made.width, made.height) == (160, 60)
    with Image.open(io.BytesIO(made.read())) as img:
        red, green, blue = img.convert("RGB").getpixel((4, 4))  # type: ignore[misc]
    # The watermark's magenta, through JPEG.
    assert red > 200
    assert green < 60
    assert blue > 200


# --- "Specs That Change" (advanced usage) ------------------------------------------------
# "Source Groups" with JpegsInADirectory + generateimages


class JpegsInADirectory:
    def __init__(self, dir: str) -> None:
        self.dir = dir

    def files(self) -> Iterator[Any]:
        os.chdir(self.dir)
        for name in glob.glob("*.jpg"):
            yield open(name, "rb")  # noqa: SIM115  (the seed opens in text mode, a py2 habit)


def test_source_group_and_generateimages(
    media: Path, tmp_path: Path, ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    for name, size in (("a.jpg", (400, 300)), ("b.jpg", (300, 400)), ("c.jpg", (1000, 100))):
        (pics / name).write_bytes(images.jpeg(size))
    (pics / "d.png").write_bytes(images.png((50, 50)))
    monkeypatch.chdir(tmp_path)  # the seed's group chdirs; put the cwd back afterwards
    registered(ids, "myapp:profile:avatar_thumbnail", Thumbnail)
    register.source_group("myapp:profile:avatar_thumbnail", JpegsInADirectory(str(pics)))
    call_command("generateimages", "myapp:profile:avatar_thumbnail", stdout=io.StringIO())
    assert records() == 3
    made = sorted(r.name for r in ThumbnailRecord.objects.exclude(spec="@version"))
    assert [size_of(media / name) for name in made] == [((100, 50), "JPEG")] * 3


# --- "Deferring Image Generation" / LazyImageCacheFile ----------------------------------


def test_lazy_image_cache_file_equivalent_generates_under_optimistic(
    media: Path, ids: list[str]
) -> None:
    from thumbkit.lookup.api import ensure

    registered(ids, "myapp:profile:avatar_thumbnail", Thumbnail)
    source_file = photo().image
    with thumbkit_settings(STRATEGY="optimistic"):
        # imagekit: LazyImageCacheFile('myapp:profile:avatar_thumbnail', source=source_file)
        #           .generate()
        generator = register.make("myapp:profile:avatar_thumbnail", source=source_file)
        assert ensure(source_file, [generator.spec]) == 1
        assert ensure(source_file, [generator.spec]) == 0  # already there
        made = generator.thumbnail()
    assert (made.width, made.height) == (100, 50)
    assert on_disk(media, made.url) == ((100, 50), "JPEG")


def test_optimistic_strategy_setting_assumes_the_file_exists(media: Path, ids: list[str]) -> None:
    registered(ids, "myapp:thumbnail", Thumbnail)
    source_image = photo().image
    with thumbkit_settings(STRATEGY="optimistic"):
        html = render(
            "{% generateimage 'myapp:thumbnail' source=source_image %}", source_image=source_image
        )
    [img] = imgs(html)
    assert not (media / str(img["src"]).removeprefix("/media/")).exists()  # not generated
    assert records() == 0
    # generateimages (or saving a spec field's source) makes it, under the same name.
    register.source_group("myapp:thumbnail", _Names([source_image.name]))
    call_command("generateimages", "myapp:thumbnail", stdout=io.StringIO())
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


class _Names:
    def __init__(self, names: list[str]) -> None:
        self.names = names

    def files(self) -> list[str]:
        return self.names


def test_deferred_generation_and_truthiness(
    media: Path, ids: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    registered(ids, "myapp:thumbnail", Thumbnail)
    source_image = photo().image
    template = (
        "{% generateimage 'myapp:thumbnail' source=source_image as th %}"
        '{% if not th %}<img src="/path/to/placeholder.jpg" />'
        '{% else %}<img src="{{ th.url }}" />{% endif %}'
    )
    tasks = {"default": {"BACKEND": _tasks_module() + ".backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=tasks), thumbkit_settings(STRATEGY="deferred"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            first = imgs(render(template, source_image=source_image))
        assert first == [{"src": "/path/to/placeholder.jpg"}]
        assert records() == 0
        for callback in callbacks:
            callback()  # commit: the task runs (immediate backend)
        second = imgs(render(template, source_image=Photo.objects.get().image))
    assert second[0]["src"] != "/path/to/placeholder.jpg"
    assert on_disk(media, str(second[0]["src"])) == ((100, 50), "JPEG")


def _tasks_module() -> str:
    import importlib.util

    return "django.tasks" if importlib.util.find_spec("django.tasks") else "django_tasks"


# --- README: "Defining Specs In Models" (tests/testapp IKProfile, IKBanner) -------------
#
#     class IKProfile(models.Model):
#         avatar = models.ImageField(upload_to="ikavatars")
#         avatar_thumbnail = ImageSpecField(source="avatar", processors=[ResizeToFill(100, 50)],
#                                           format="JPEG", options={"quality": 60})


def ikprofile(name: str = "me.jpg", size: tuple[int, int] = (400, 300), **fields: Any) -> Any:
    from tests.testapp.models import IKProfile

    return IKProfile.objects.create(avatar=ContentFile(images.jpeg(size), name=name), **fields)


def test_image_spec_field(media: Path) -> None:
    from tests.testapp.models import IKProfile

    ikprofile()
    profile = IKProfile.objects.all()[0]
    assert profile.avatar_thumbnail.url.startswith("/media/")
    assert profile.avatar_thumbnail.url.endswith(".jpg")
    assert profile.avatar_thumbnail.width == 100
    assert profile.avatar_thumbnail.height == 50
    assert on_disk(media, profile.avatar_thumbnail.url) == ((100, 50), "JPEG")
    # In a template, as a normal image field.
    [img] = imgs(render('<img src="{{ profile.avatar_thumbnail.url }}" />', profile=profile))
    assert img["src"] == profile.avatar_thumbnail.url


def test_image_spec_field_shorthand_id(media: Path) -> None:
    # avatar_small = ImageSpecField(source="avatar", id="testapp:ikprofile:avatar_small"),
    # the id registered in tests/testapp/imagegenerators.py (ResizeToFill(40, 40), PNG).
    from tests.testapp.models import IKProfile

    ikprofile()
    profile = IKProfile.objects.get()
    small = profile.avatar_small
    assert (small.width, small.height, small.format) == (40, 40, "PNG")
    assert on_disk(media, small.url) == ((40, 40), "PNG")
    # The long form: the registered spec made by hand on the same source is the same file.
    by_hand = register.make("testapp:ikprofile:avatar_small", source=profile.avatar).thumbnail()
    assert by_hand.url == small.url


def test_specs_that_change(media: Path) -> None:
    # AvatarSized reads get_field_info(self.source) and sizes by the row (the seed's
    # `thumbnail.avatar_height` typo read as the instance's thumbnail_height).
    from tests.testapp.models import IKProfile

    ikprofile("a.jpg", thumbnail_width=80, thumbnail_height=20)
    ikprofile("b.jpg", thumbnail_width=30, thumbnail_height=60)
    wide, tall = IKProfile.objects.all()
    assert (wide.avatar_sized.width, wide.avatar_sized.height) == (80, 20)
    assert (tall.avatar_sized.width, tall.avatar_sized.height) == (30, 60)
    assert on_disk(media, wide.avatar_sized.url) == ((80, 20), "JPEG")
    assert on_disk(media, tall.avatar_sized.url) == ((30, 60), "JPEG")


def test_processed_image_field_model(media: Path) -> None:
    # banner = ProcessedImageField(upload_to="ikbanners", processors=[ResizeToFit(160, 60)],
    #                              format="JPEG", options={"quality": 80})
    from tests.testapp.models import IKBanner

    upload = SimpleUploadedFile("MY-avatar.png", images.png((800, 300)), content_type="image/png")
    IKBanner.objects.create(banner=upload)
    banner = IKBanner.objects.all()[0]
    assert banner.banner.url == "/media/ikbanners/MY-avatar.jpg"
    assert banner.banner.width == 160
    assert on_disk(media, banner.banner.url) == ((160, 60), "JPEG")


def test_admin_thumbnail(media: Path, rf: Any) -> None:
    from django.contrib import admin

    from tests.testapp.models import IKProfile
    from thumbkit.admin import AdminThumbnail

    class PhotoAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
        list_display = ("__str__", "admin_thumbnail")
        admin_thumbnail = AdminThumbnail(image_field="avatar_thumbnail")

    profile = ikprofile()
    model_admin = PhotoAdmin(IKProfile, admin.site)
    html = model_admin.admin_thumbnail(IKProfile.objects.get(pk=profile.pk))
    [img] = imgs(str(html))
    assert img["src"] == profile.avatar_thumbnail.url
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")


def test_generateimages_command_for_spec_fields(media: Path, renders: list[int]) -> None:
    from tests.testapp.models import IKProfile

    ikprofile("a.jpg")
    ikprofile("b.jpg", size=(300, 400))
    assert records() == 0  # spec fields are lazy: nothing made on save
    call_command("generateimages", "testapp:ikprofile:*", stdout=io.StringIO())
    assert records() == 4  # 2 rows x (avatar_thumbnail, avatar_small)
    made = len(renders)
    for profile in IKProfile.objects.all():
        assert on_disk(media, profile.avatar_thumbnail.url) == ((100, 50), "JPEG")
        assert on_disk(media, profile.avatar_small.url) == ((40, 40), "PNG")
    assert len(renders) == made  # served from the store, nothing generated on access


def test_optimistic_strategy_generates_when_the_source_is_saved(
    media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # IMAGEKIT_DEFAULT_CACHEFILE_STRATEGY = 'imagekit.cachefiles.strategies.Optimistic'
    from tests.testapp.models import IKProfile

    with thumbkit_settings(STRATEGY="optimistic"):
        with django_capture_on_commit_callbacks(execute=True):
            ikprofile()
        profile = IKProfile.objects.get()
        thumb = profile.avatar_thumbnail
        assert thumb
        assert on_disk(media, thumb.url) == ((100, 50), "JPEG")


def test_async_generation_and_truthiness(
    media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # IMAGEKIT_DEFAULT_CACHEFILE_BACKEND = 'imagekit.cachefiles.backends.Async'
    from tests.testapp.models import IKProfile

    template = (
        "{% if not profile.avatar_thumbnail %}"
        '<img src="/path/to/placeholder.jpg" />'
        "{% else %}"
        '<img src="{{ profile.avatar_thumbnail.url }}" />'
        "{% endif %}"
    )
    tasks = {"default": {"BACKEND": _tasks_module() + ".backends.immediate.ImmediateBackend"}}
    with override_settings(TASKS=tasks), thumbkit_settings(STRATEGY="deferred"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            ikprofile()
            profile = IKProfile.objects.all()[0]
            assert imgs(render(template, profile=profile)) == [{"src": "/path/to/placeholder.jpg"}]
            if profile.avatar_thumbnail:
                url = profile.avatar_thumbnail.url
            else:
                url = "/path/to/placeholder.jpg"
            assert url == "/path/to/placeholder.jpg"
        assert records() == 0
        for callback in callbacks:
            callback()  # the commit: the task runs on the immediate backend
        profile = IKProfile.objects.all()[0]
        [img] = imgs(render(template, profile=profile))
    assert img["src"] != "/path/to/placeholder.jpg"
    assert on_disk(media, str(img["src"])) == ((100, 50), "JPEG")
