"""Validation at upload: LIMITS checked from the header before a file is stored.

The validator (``thumbkit.validators.ImageLimitsValidator``) on its own, on thumbkit's model
and form fields, on a plain Django ImageField, and in the example site's upload form; the
messages in English and in French. Then Django's ``field.save(name, ContentFile(data))``
idiom on thumbkit's two model fields.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models
from django.db.migrations.writer import MigrationWriter
from django.test.utils import isolate_apps
from django.utils.translation import override
from PIL import Image

from tests import images
from tests.conftest import thumbkit_settings
from tests.fields_util import decoded, files, media, thumb_files
from tests.s3 import Media
from tests.testapp.models import IKBanner, Profile
from thumbkit import fields as thumbkit_fields
from thumbkit import forms as thumbkit_forms
from thumbkit.adapters import lifecycle
from thumbkit.validators import MESSAGES, ImageLimitsValidator

__all__ = ["media"]  # a fixture

REPO = Path(__file__).resolve().parents[1]
BIG = (12000, 12000)  # 144,000,000 pixels: 44% over the default MAX_SOURCE_PIXELS
BIG_MESSAGE = (
    "The image is 12000×12000 = 144,000,000 pixels; "  # noqa: RUF001
    "the limit is 100,000,000 (44% over)."
)


@pytest.fixture(scope="module")
def big_png() -> bytes:
    """A real 12000x12000 PNG: one palette colour, so it compresses to about 17 KB."""
    buffer = io.BytesIO()
    Image.new("P", BIG, 0).save(buffer, "PNG")
    return buffer.getvalue()


def png_upload(data: bytes, name: str = "big.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="image/png")


def refusal(call: Any, *args: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        call(*args)
    return info.value


def only_error(exc: ValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        errors = [error for group in exc.error_dict.values() for error in group]
    else:
        errors = exc.error_list
    assert len(errors) == 1, errors
    return errors[0]


def gif(frames: int, size: tuple[int, int] = (20, 20)) -> bytes:
    # Each frame a colour of its own: Pillow merges identical frames when it saves.
    shots = [Image.new("RGB", size, (i * 40 % 256, 0, 0)) for i in range(frames)]
    buffer = io.BytesIO()
    shots[0].save(buffer, "GIF", save_all=True, append_images=shots[1:], duration=50)
    return buffer.getvalue()


# -- the validator ------------------------------------------------------------------------


def test_a_12000_square_png_is_refused_saying_which_limit_and_by_how_much(big_png: bytes) -> None:
    error = refusal(ImageLimitsValidator(), png_upload(big_png))
    assert error.code == "image_too_many_pixels"
    assert error.messages == [BIG_MESSAGE]
    assert error.params is not None
    assert (error.params["show_value"], error.params["limit_value"]) == (144_000_000, 100_000_000)
    assert (error.params["width"], error.params["height"]) == BIG


def test_an_image_within_the_limits_passes_and_keeps_its_read_position() -> None:
    upload = SimpleUploadedFile("ok.jpg", images.jpeg((400, 300)))
    upload.seek(10)
    ImageLimitsValidator()(upload)
    assert upload.tell() == 10


def test_the_caps_are_read_from_limits_when_the_validator_runs() -> None:
    validator = ImageLimitsValidator()  # made before the settings change: reads them later
    upload = png_upload(images.png((40, 30)), "small.png")
    validator(upload)
    with thumbkit_settings(LIMITS={"MAX_SOURCE_PIXELS": 1000}):
        error = refusal(validator, png_upload(images.png((40, 30)), "small.png"))
    assert error.messages == [
        "The image is 40×30 = 1,200 pixels; the limit is 1,000 (20% over)."  # noqa: RUF001
    ]


def test_constructor_caps_override_limits() -> None:
    error = refusal(ImageLimitsValidator(max_pixels=1000), png_upload(images.png((40, 30))))
    assert error.code == "image_too_many_pixels"
    assert error.params is not None
    assert error.params["limit_value"] == 1000
    ImageLimitsValidator(max_pixels=1200)(png_upload(images.png((40, 30))))


def test_frames_over_the_cap() -> None:
    error = refusal(ImageLimitsValidator(max_frames=3), SimpleUploadedFile("a.gif", gif(5)))
    assert error.code == "image_too_many_frames"
    assert error.messages == ["The image has 5 frames; the limit is 3 (67% over)."]
    ImageLimitsValidator(max_frames=5)(SimpleUploadedFile("a.gif", gif(5)))


def test_bytes_over_the_cap_are_refused_from_the_size_without_reading() -> None:
    class Unreadable(SimpleUploadedFile):
        def read(self, *args: Any) -> bytes:
            raise AssertionError("the size alone decides")

    data = images.jpeg((400, 300))
    error = refusal(ImageLimitsValidator(max_bytes=1000), Unreadable("a.jpg", data))
    assert error.code == "image_too_large_file"
    over = -(-(len(data) - 1000) * 100 // 1000)
    assert error.messages == [
        f"The file is {len(data):,} bytes; the limit is 1,000 bytes ({over:,}% over)."
    ]


def test_a_file_of_unknown_size_is_read_up_to_one_byte_past_the_byte_cap() -> None:
    class Counting(io.BytesIO):
        taken = 0

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.taken += len(data)
            return data

    class NoSize(File):  # type: ignore[type-arg]
        @property
        def size(self) -> int:
            raise AttributeError("no size")

    raw = Counting(images.jpeg((400, 300)))
    error = refusal(ImageLimitsValidator(max_bytes=1000), NoSize(raw, name="a.jpg"))
    assert error.code == "image_too_large_file"
    assert raw.taken == 1001


def test_a_small_upload_on_disk_costs_its_size_not_the_byte_cap(tmp_path: Path) -> None:
    # A file object's read(n) allocates n bytes up front: read(MAX_SOURCE_BYTES + 1) would
    # take 100 MiB for every upload, whatever its size.
    path = tmp_path / "ok.png"
    path.write_bytes(images.png((400, 300)))
    with path.open("rb") as handle:
        upload = File(handle, name="ok.png")
        tracemalloc.start()
        try:
            ImageLimitsValidator()(upload)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, peak


def test_a_format_outside_the_allow_list_is_named() -> None:
    tiff = images.encode(images.make_image((40, 30)), "TIFF")
    validator = ImageLimitsValidator(formats=["JPEG", "PNG"])
    error = refusal(validator, SimpleUploadedFile("a.tif", tiff))
    assert error.code == "image_format_not_allowed"
    assert error.messages == [
        "The image is in TIFF format, which is not accepted; accepted formats: JPEG, PNG."
    ]


@pytest.mark.parametrize(
    "data",
    [b"plain text, not an image", b"", images.png((40, 30))[:30]],
    ids=["text", "empty", "truncated-png"],
)
def test_a_file_that_is_no_readable_image_is_refused(data: bytes) -> None:
    error = refusal(ImageLimitsValidator(formats=["PNG", "JPEG"]), SimpleUploadedFile("x", data))
    assert error.code == "image_unreadable"
    assert error.messages == [
        "The file is not an image that can be read, or it is damaged (accepted formats: PNG, JPEG)."
    ]


def test_a_baseline_jpeg_counts_after_draft_a_progressive_one_at_full_size() -> None:
    baseline = SimpleUploadedFile("b.jpg", images.jpeg((1600, 1200)))
    # Drafted to 1/8 for its smallest thumbnails: 200x150 = 30,000 pixels.
    ImageLimitsValidator(max_pixels=30_000)(baseline)
    error = refusal(ImageLimitsValidator(max_pixels=20_000), baseline)
    assert error.code == "image_too_many_pixels"
    assert error.messages == [
        "The image is 1600×1200; decoded at the smallest scale it still takes "  # noqa: RUF001
        "200×150 = 30,000 pixels; the limit is 20,000 (50% over)."  # noqa: RUF001
    ]
    progressive = SimpleUploadedFile("p.jpg", images.jpeg((1600, 1200), progressive=True))
    error = refusal(ImageLimitsValidator(max_pixels=30_000), progressive)
    assert error.messages == [
        "The image is 1600×1200 = 1,920,000 pixels; the limit is 30,000 (6,300% over)."  # noqa: RUF001
    ]


def test_deconstructs_for_migrations_and_compares_by_caps() -> None:
    validator = ImageLimitsValidator(max_pixels=20_000_000, formats=["jpeg", "png"])
    path, args, kwargs = validator.deconstruct()
    assert path == "thumbkit.validators.ImageLimitsValidator"
    assert (args, kwargs) == ((), {"max_pixels": 20_000_000, "formats": ["jpeg", "png"]})
    code, imports = MigrationWriter.serialize(validator)
    assert code == (
        "thumbkit.validators.ImageLimitsValidator(formats=['jpeg', 'png'], max_pixels=20000000)"
    )
    assert imports == {"import thumbkit.validators"}
    assert validator == ImageLimitsValidator(formats=("JPEG", "PNG"), max_pixels=20_000_000)
    assert validator != ImageLimitsValidator(max_pixels=20_000_000)
    assert ImageLimitsValidator() == ImageLimitsValidator()
    assert ImageLimitsValidator().deconstruct()[2] == {}


def test_a_stored_file_is_not_read_again(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    with isolate_apps("tests.testapp"):

        class Stored(models.Model):  # noqa: DJ008
            image = models.ImageField(upload_to="stored", validators=[ImageLimitsValidator()])

            class Meta:
                app_label = "testapp"

    row = Stored(image="stored/gone.png")  # a committed name: nothing on the storage
    row.image.storage.location  # noqa: B018  (set up default_storage's wrapped storage)
    storage = row.image.storage._wrapped  # the media fixture's filesystem or S3 storage
    asked: list[str] = []
    for method in ("open", "exists", "size"):
        real = getattr(storage, method)

        def counted(*args: Any, _name: str = method, _real: Any = real, **kwargs: Any) -> Any:
            asked.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(storage, method, counted)
    row.full_clean(validate_unique=False, validate_constraints=False)  # raises if it read
    assert asked == []  # the validator never touched the storage


# -- in English and in French -------------------------------------------------------------


def test_messages_are_translated(big_png: bytes) -> None:
    with override("fr"):
        error = refusal(ImageLimitsValidator(), png_upload(big_png))
        shown = error.messages
    assert shown == [
        "L’image fait 12000×12000 = 144\xa0000\xa0000 pixels ; "  # noqa: RUF001
        "la limite est de 100\xa0000\xa0000 (44 % de trop)."
    ]
    with override("fr"):
        error = refusal(ImageLimitsValidator(max_frames=3), SimpleUploadedFile("a.gif", gif(5)))
        assert error.messages == [
            "L’image compte 5 images ; la limite est de 3 (67 % de trop)."  # noqa: RUF001
        ]
    with override("en"):
        assert refusal(ImageLimitsValidator(), png_upload(big_png)).messages == [BIG_MESSAGE]


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_a_french_translation_in_the_compiled_catalogue(key: str) -> None:
    # The .mo is committed (tests and users need no gettext); a message added without
    # compiling the catalogue again would show in English.
    english = str(MESSAGES[key])
    with override("fr"):
        french = str(MESSAGES[key])
    assert french != english
    assert sorted(re.findall(r"%\((\w+)\)s", french)) == sorted(re.findall(r"%\((\w+)\)s", english))


# -- thumbkit's model and form fields -----------------------------------------------------


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["name", "photo"]


class BannerForm(forms.ModelForm):
    class Meta:
        model = IKBanner
        fields = ["banner"]


@pytest.mark.django_db(transaction=True)
def test_model_validation_of_thumbkit_image_field_refuses_it(media: Media, big_png: bytes) -> None:
    profile = Profile(name="big", photo=png_upload(big_png))
    error = refusal(profile.full_clean)
    assert error.message_dict == {"photo": [BIG_MESSAGE]}
    assert only_error(error).code == "image_too_many_pixels"
    assert files(media) == []


@pytest.mark.django_db(transaction=True)
def test_model_form_of_thumbkit_image_field_refuses_it(media: Media, big_png: bytes) -> None:
    form = ProfileForm(data={"name": "big"}, files={"photo": png_upload(big_png)})
    assert isinstance(form.fields["photo"], thumbkit_forms.ImageField)
    assert not form.is_valid()
    assert form.errors == {"photo": [BIG_MESSAGE]}
    assert form.errors.as_data()["photo"][0].code == "image_too_many_pixels"
    assert Profile.objects.count() == 0
    assert files(media) == []


@pytest.mark.django_db(transaction=True)
def test_model_form_accepts_an_ordinary_upload(media: Media) -> None:
    form = ProfileForm(data={"name": "ok"}, files={"photo": png_upload(images.png(), "ok.png")})
    assert form.is_valid(), form.errors
    profile = form.save()
    assert profile.photo.name == "profiles/ok.png"
    assert decoded(media, profile.photo.name) == ((400, 300), "PNG")


@pytest.mark.django_db(transaction=True)
# Assigning the upload to a model with width/height fields makes Django read its size with
# Pillow's parser, which warns at 144 MP (the test settings make warnings errors).
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_processed_image_field_refuses_it_before_processing(media: Media, big_png: bytes) -> None:
    form = BannerForm(files={"banner": png_upload(big_png)})
    assert not form.is_valid()
    assert form.errors == {"banner": [BIG_MESSAGE]}
    banner = IKBanner(banner=png_upload(big_png))
    assert refusal(banner.full_clean).message_dict == {"banner": [BIG_MESSAGE]}
    assert IKBanner.objects.count() == 0
    assert files(media) == []


@pytest.mark.django_db(transaction=True)
def test_processed_form_output_is_not_checked_again(media: Media) -> None:
    # The processed JPEG is thumbkit's own output; only the upload is held to FORMATS.
    with thumbkit_settings(LIMITS={"FORMATS": ["PNG"]}):
        form = BannerForm(files={"banner": png_upload(images.png((800, 600)), "b.png")})
        assert form.is_valid(), form.errors
        banner = form.save()
    assert decoded(media, banner.banner.name) == ((80, 60), "JPEG")


def test_the_thumbkit_form_field_checks_before_pillow_opens_the_upload(
    big_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    error = refusal(thumbkit_forms.ImageField().clean, png_upload(big_png))
    assert error.messages == [BIG_MESSAGE]
    assert opened == []  # Django's own check (Image.open + verify) never ran


def test_validate_limits_false_and_other_caps() -> None:
    with isolate_apps("tests.testapp"):

        class Options(models.Model):  # noqa: DJ008
            off = thumbkit_fields.ImageField(upload_to="o", validate_limits=False)
            tight = thumbkit_fields.ImageField(
                upload_to="t", validate_limits=ImageLimitsValidator(max_pixels=1000)
            )
            processed = thumbkit_fields.ProcessedImageField(
                upload_to="p", format="PNG", validate_limits=False
            )

            class Meta:
                app_label = "testapp"

    off, tight, processed = (Options._meta.get_field(n) for n in ("off", "tight", "processed"))
    assert not [v for v in off.validators if isinstance(v, ImageLimitsValidator)]
    assert not [v for v in processed.validators if isinstance(v, ImageLimitsValidator)]
    assert ImageLimitsValidator(max_pixels=1000) in tight.validators
    assert off.formfield().limits_validator is None
    assert processed.formfield().limits_validator is None
    error = refusal(tight.formfield().clean, png_upload(images.png((40, 30))))
    assert only_error(error).code == "image_too_many_pixels"
    # Migrations see Django's ImageField, without the default validator or the option.
    _name, path, _args, kwargs = tight.deconstruct()
    assert (path, kwargs) == ("django.db.models.ImageField", {"upload_to": "t"})
    # A form class given by the caller does not have to know the option.
    assert type(off.formfield(form_class=forms.ImageField)) is forms.ImageField


def test_a_plain_django_image_field_takes_the_validator(big_png: bytes) -> None:
    with isolate_apps("tests.testapp"):

        class Plain(models.Model):  # noqa: DJ008
            image = models.ImageField(upload_to="plain", validators=[ImageLimitsValidator()])

            class Meta:
                app_label = "testapp"

    row = Plain(image=png_upload(big_png))
    error = refusal(row.full_clean, None, False, False)
    assert error.message_dict == {"image": [BIG_MESSAGE]}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_plain_django_form_field_takes_the_validator(big_png: bytes) -> None:
    # Django's field opens the upload with Pillow first (which warns at 144 MP), then
    # runs the validators.
    field = forms.ImageField(validators=[ImageLimitsValidator()])
    assert refusal(field.clean, png_upload(big_png)).messages == [BIG_MESSAGE]


# -- the example site's upload form -------------------------------------------------------

EXAMPLE_FORM = """
import io, json, sys
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from gallery.forms import PhotoForm
buffer = io.BytesIO()
Image.new("P", (12000, 12000), 0).save(buffer, "PNG")
upload = SimpleUploadedFile("big.png", buffer.getvalue(), content_type="image/png")
form = PhotoForm(data={"title": "Big"}, files={"image": upload})
valid = form.is_valid()
codes = {k: [e.code for e in v] for k, v in form.errors.as_data().items()}
print(json.dumps({"valid": valid, "errors": form.errors, "codes": codes}))
"""


@pytest.fixture
def example_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "exampleproject.settings"
    env["THUMBKIT_EXAMPLE_VAR"] = str(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "example"), str(REPO / "src")])
    return env


def test_the_example_upload_form_refuses_it(example_env: dict[str, str]) -> None:
    # The example site runs with its own settings, so it is asked in a process of its own.
    done = subprocess.run(
        [sys.executable, "-c", EXAMPLE_FORM],
        env=example_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {
        "valid": False,
        "errors": {"image": [BIG_MESSAGE]},
        "codes": {"image": ["image_too_many_pixels"]},
    }


# -- Django's field.save(name, ContentFile(data)) idiom -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_processed_field_save_with_an_unnamed_content_file(media: Media) -> None:
    banner = IKBanner()
    banner.banner.save("me.png", ContentFile(images.png((800, 600))), save=True)
    assert banner.pk is not None
    stored = IKBanner.objects.get(pk=banner.pk)
    # ResizeToFit(160, 60) of 800x600, stored as the field's JPEG, named after save()'s name.
    assert stored.banner.name == "ikbanners/me.jpg"
    assert (stored.banner_width, stored.banner_height) == (80, 60)
    assert decoded(media, stored.banner.name) == ((80, 60), "JPEG")
    assert files(media, "ikbanners") == ["ikbanners/me.jpg"]


@pytest.fixture
def sized_model(media: Media, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[models.Model]]:
    """A thumbkit ImageField with width/height fields and declared thumbnails, with a table.

    None of the test app's models has width/height fields, and adding one would need a
    migration: the model lives in an isolated registry, which thumbkit's after-commit
    work (it finds models by label) is pointed at for the test.
    """
    with isolate_apps("tests.testapp"):

        class SizedPhoto(models.Model):  # noqa: DJ008
            image = thumbkit_fields.ImageField(
                upload_to="sized",
                width_field="image_width",
                height_field="image_height",
                thumbnails={"small": "100x100 crop", "wide": "200"},
            )
            image_width = models.PositiveIntegerField(null=True)
            image_height = models.PositiveIntegerField(null=True)

            class Meta:
                app_label = "testapp"

    monkeypatch.setattr(lifecycle, "apps", SizedPhoto._meta.apps)
    with connection.schema_editor() as editor:
        editor.create_model(SizedPhoto)
    try:
        yield SizedPhoto
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(SizedPhoto)


@pytest.mark.django_db(transaction=True)
def test_image_field_save_with_an_unnamed_content_file(
    media: Media, sized_model: type[models.Model]
) -> None:
    row: Any = sized_model()
    row.image.save("me.png", ContentFile(images.png((400, 300))), save=True)
    assert row.pk is not None
    stored: Any = sized_model.objects.get(pk=row.pk)
    assert stored.image.name == "sized/me.png"
    assert (stored.image_width, stored.image_height) == (400, 300)
    assert decoded(media, stored.image.name) == ((400, 300), "PNG")
    made = sorted(decoded(media, name)[0] for name in thumb_files(media))
    assert made == [(100, 100), (200, 150)]  # the declared thumbnails, made on save


def test_an_animation_over_the_frames_times_pixels_budget() -> None:
    from tests.test_animation import gif as hand_made_gif

    bomb = hand_made_gif((3000, 3000), 40)  # 40 frames composited on 9 MP: 360 MP
    error = refusal(ImageLimitsValidator(), SimpleUploadedFile("a.gif", bomb))
    assert error.code == "image_too_many_animation_pixels"
    assert error.messages == [
        "The animation has 40 frames of 3000×3000 = 360,000,000 pixels; "  # noqa: RUF001
        "the limit is 300,000,000 (20% over)."
    ]
    with thumbkit_settings(LIMITS={"MAX_ANIMATION_PIXELS": 360_000_000}):
        ImageLimitsValidator()(SimpleUploadedFile("a.gif", bomb))
