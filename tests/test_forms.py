"""ProcessedImageField: imagekit's processing upload field, for models and for forms.

Real uploads, real files: sizes and formats are read back from the stored bytes, and a
corrupt upload must leave no file and no row.
"""

from __future__ import annotations

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import images
from tests.fields_util import decoded, files, media, upload
from tests.s3 import Media
from tests.testapp.models import IKBanner, Photo
from thumbkit import forms as thumbkit_forms
from thumbkit.exceptions import SourceUnreadable
from thumbkit.forms import ProcessedImageField
from thumbkit.processors import ResizeToFill

__all__ = ["media"]  # a fixture

pytestmark = pytest.mark.django_db(transaction=True)


class ProfileForm(forms.Form):
    avatar_thumbnail = ProcessedImageField(
        spec_id="testapp:profileform:avatar_thumbnail",
        processors=[ResizeToFill(100, 50)],
        format="JPEG",
        options={"quality": 60},
    )


class BannerForm(forms.ModelForm):
    class Meta:
        model = IKBanner
        fields = ["banner"]


def truncated_jpeg() -> bytes:
    # Pillow's verify() accepts it (Django's ImageField lets it through); decoding fails.
    data = images.jpeg((400, 300))
    return data[: len(data) // 2]


def png_upload(name: str = "me.png", size: tuple[int, int] = (400, 300)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, images.png(size), content_type="image/png")


# -- the form field -----------------------------------------------------------------------


def test_form_field_returns_the_processed_upload(media: Media) -> None:
    form = ProfileForm(files={"avatar_thumbnail": png_upload()})
    assert form.is_valid(), form.errors
    out = form.cleaned_data["avatar_thumbnail"]
    assert (out.name, out.width, out.height, out.content_type) == ("me.jpg", 100, 50, "image/jpeg")
    assert out.size == len(out.read()) > 0
    # A plain models.ImageField stores it as it is.
    photo = Photo.objects.create(image=out)
    assert photo.image.name == "photos/me.jpg"
    assert decoded(media, photo.image.name) == ((100, 50), "JPEG")
    assert (photo.image.width, photo.image.height) == (100, 50)


@pytest.mark.parametrize(
    "data", [truncated_jpeg(), b"not an image at all", b""], ids=["truncated", "text", "empty"]
)
def test_form_field_corrupt_upload_is_a_validation_error(media: Media, data: bytes) -> None:
    form = ProfileForm(files={"avatar_thumbnail": SimpleUploadedFile("bad.jpg", data)})
    assert not form.is_valid()
    assert list(form.errors) == ["avatar_thumbnail"]
    assert files(media) == []


def test_form_field_keeps_the_initial_file_when_nothing_is_uploaded() -> None:
    field = ProcessedImageField(spec_id="testapp:profileform:avatar_thumbnail", required=False)
    assert field.clean(None, "photos/old.jpg") == "photos/old.jpg"


def test_form_field_needs_a_spec_id() -> None:
    with pytest.raises(TypeError, match="spec_id"):
        ProcessedImageField(processors=[ResizeToFill(1, 1)])


# -- the model field ----------------------------------------------------------------------


def test_model_field_stores_the_processed_file(media: Media) -> None:
    banner = IKBanner.objects.create(banner=png_upload("big.png", (800, 600)))
    assert banner.banner.name == "ikbanners/big.jpg"
    assert decoded(media, banner.banner.name) == ((80, 60), "JPEG")
    assert (banner.banner_width, banner.banner_height) == (80, 60)
    assert files(media) == ["ikbanners/big.jpg"]  # the original is not kept
    again = IKBanner.objects.get(pk=banner.pk)
    assert (again.banner.width, again.banner.height, again.banner_width) == (80, 60, 80)


def test_model_field_corrupt_upload_raises_and_leaves_nothing(media: Media) -> None:
    with pytest.raises(SourceUnreadable):
        IKBanner.objects.create(banner=SimpleUploadedFile("bad.jpg", truncated_jpeg()))
    assert files(media) == []
    assert IKBanner.objects.count() == 0


def test_model_form_processes_once_and_validates(media: Media) -> None:
    form = BannerForm(files={"banner": upload("wide.jpg", (600, 200))})
    assert isinstance(form.fields["banner"], thumbkit_forms.ProcessedImageField)
    assert form.is_valid(), form.errors
    banner = form.save()
    assert banner.banner.name == "ikbanners/wide.jpg"
    assert decoded(media, banner.banner.name) == ((160, 53), "JPEG")
    assert (banner.banner_width, banner.banner_height) == (160, 53)
    # The file the form made is the file stored: the model did not process it again.
    assert form.cleaned_data["banner"].thumbkit_spec == (
        IKBanner._meta.get_field("banner").generator(None).spec.canonical
    )


def test_model_form_corrupt_upload_is_a_field_error(media: Media) -> None:
    form = BannerForm(files={"banner": SimpleUploadedFile("bad.jpg", truncated_jpeg())})
    assert not form.is_valid()
    assert list(form.errors) == ["banner"]
    assert files(media) == []
    assert IKBanner.objects.count() == 0


def test_model_field_deconstructs_as_a_plain_image_field() -> None:
    field = IKBanner._meta.get_field("banner")
    _name, path, _args, kwargs = field.deconstruct()
    assert path == "django.db.models.ImageField"
    assert "processors" not in kwargs
    assert "format" not in kwargs
    assert kwargs["upload_to"] == "ikbanners"
