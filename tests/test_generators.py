"""imagekit's core on thumbkit: ImageSpec, the generator registry, processors-only specs,
namers, storage per spec, and the fallbacks shown for thumbnails not made yet."""

from __future__ import annotations

import importlib.util
import io
import posixpath
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import override_settings
from PIL import Image

from tests import images
from tests.api_support import Images, files_under
from tests.conftest import thumbkit_settings
from tests.testapp.models import Photo
from thumbkit import ImageSpec, Thumbnail, get_thumbnail, register
from thumbkit.adapters.html import img_tag
from thumbkit.core.spec import parse
from thumbkit.exceptions import (
    ConfigurationError,
    GenerationError,
    InvalidSpec,
    OutputTooLarge,
    SourceTooLarge,
)
from thumbkit.lookup import api
from thumbkit.lookup.batch import PSEUDO_SPECS
from thumbkit.lookup.fallback import fallback, predicted
from thumbkit.lookup.generators import GeneratedImage, ThumbnailGenerator
from thumbkit.lookup.keys import NAMERS, get_namer, thumbnail_key
from thumbkit.lookup.registry import AlreadyRegistered, NotRegistered, Registry, autodiscover
from thumbkit.lookup.source import coerce
from thumbkit.lookup.thumbnail import Placeholder
from thumbkit.models import ThumbnailRecord
from thumbkit.processors import Adjust, Resize, ResizeToFill, ResizeToFit
from thumbkit.utils import get_field_info

pytestmark = pytest.mark.django_db


class AvatarThumbnail(ImageSpec):
    processors = [ResizeToFill(100, 50)]
    format = "JPEG"
    options = {"quality": 60}


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def scratch_ids() -> Iterator[list[str]]:
    """Ids a test registers on the global registry, unregistered afterwards."""
    ids: list[str] = []
    yield ids
    for id in ids:
        register.unregister(id)


def make_photo(name: str = "a.jpg", size: tuple[int, int] = (400, 300), title: str = "") -> Photo:
    return Photo.objects.create(title=title, image=ContentFile(images.jpeg(size), name=name))


def records() -> list[str]:
    rows = ThumbnailRecord.objects.exclude(spec__in=PSEUDO_SPECS)  # no version, no failure
    return sorted(rows.values_list("name", flat=True))


def pixel_size(data: bytes) -> tuple[tuple[int, int], str]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size, str(img.format)


def stored(t: Thumbnail) -> tuple[tuple[int, int], str]:
    with t.storage.open(t.name, "rb") as handle:
        return pixel_size(handle.read())


# --- ImageSpec: attributes and options --------------------------------------------------


def test_class_attributes_make_a_processors_only_spec() -> None:
    spec = AvatarThumbnail().spec
    assert not spec.has_geometry
    assert (spec.width, spec.height) == (None, None)
    assert spec.format == "JPEG"
    assert spec.quality == 60
    assert spec.canonical.startswith("original ")
    assert "ResizeToFill" in spec.canonical
    # Built once per class: two instances share the one Spec object.
    assert AvatarThumbnail().spec is AvatarThumbnail(source="x.jpg").spec


def test_options_map_onto_spec_options() -> None:
    class Styled(ImageSpec):
        processors = [ResizeToFit(80, 80)]
        options = {
            "quality": 70,
            "progressive": False,
            "background": "#000",
            "colorspace": "gray",
            "optimize": True,  # accepted: thumbkit always optimizes JPEG and PNG
        }

    spec = Styled().spec
    assert (spec.quality, spec.progressive, spec.background, spec.colorspace) == (
        70,
        False,
        "#000000",
        "GRAY",
    )


def test_unsupported_option_keys_are_an_invalid_spec_naming_them() -> None:
    class Printed(ImageSpec):
        processors = [ResizeToFill(10, 10)]
        options = {"quality": 60, "dpi": (300, 300), "icc_profile": b""}

    with pytest.raises(InvalidSpec) as caught:
        Printed().spec  # noqa: B018
    message = str(caught.value)
    assert "Printed.options" in message
    assert "['dpi', 'icc_profile']" in message
    assert "quality, progressive, background, colorspace, optimize" in message


def test_bad_option_values_are_an_invalid_spec() -> None:
    with pytest.raises(InvalidSpec, match="quality"):
        AvatarThumbnail(options={"quality": 0}).spec  # noqa: B018
    with pytest.raises(InvalidSpec, match="format"):
        AvatarThumbnail(format="TIFF").spec  # noqa: B018


def test_constructor_keywords_override_class_attributes(media: Path) -> None:
    photo = make_photo()
    result = AvatarThumbnail(source=photo.image, format="PNG").generate()
    assert (result.width, result.height, result.format) == (100, 50, "PNG")
    assert pixel_size(result.read()) == ((100, 50), "PNG")


def test_processors_are_steps_in_the_key() -> None:
    class Other(AvatarThumbnail):
        processors = [ResizeToFill(100, 51)]

    assert Other().spec != AvatarThumbnail().spec
    # A pipeline written as a dotted path and as an object is one spec (one file).
    by_path = AvatarThumbnail(
        processors=[{"PATH": "thumbkit.processors.ResizeToFill", "width": 100, "height": 50}]
    )
    assert by_path.spec == AvatarThumbnail().spec


def test_a_processor_without_process_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="process"):
        AvatarThumbnail(processors=[object()]).spec  # noqa: B018


def test_class_spec_is_rebuilt_when_settings_change() -> None:
    first = AvatarThumbnail().spec
    with thumbkit_settings(QUALITY=50):
        second = AvatarThumbnail().spec
    assert second is not first
    assert second == first  # same canonical text: settings do not enter the spec


# --- generate(): a file, nothing kept --------------------------------------------------


def test_generate_returns_a_file_and_stores_nothing(media: Path, renders: list[int]) -> None:
    photo = make_photo("portrait.jpg", (300, 400))
    before = files_under(str(media))
    result = AvatarThumbnail(source=photo.image).generate()
    assert isinstance(result, GeneratedImage)
    assert (result.width, result.height, result.format) == (100, 50, "JPEG")
    assert result.name == "portrait.jpg"
    assert pixel_size(result.read()) == ((100, 50), "JPEG")
    assert files_under(str(media)) == before  # nothing written
    assert records() == []  # nothing recorded
    # Not cached either: a second call decodes again.
    AvatarThumbnail(source=photo.image).generate()
    assert renders == [1, 1]


def test_generate_from_an_open_file_written_elsewhere(tmp_path: Path) -> None:
    src = tmp_path / "myimage.jpg"
    src.write_bytes(images.jpeg((640, 480)))
    with open(src, "rb") as source_file:
        result = AvatarThumbnail(source=source_file).generate()
    dest = tmp_path / "dest.jpg"
    with open(dest, "wb") as out:
        out.write(result.read())
    assert pixel_size(dest.read_bytes()) == ((100, 50), "JPEG")
    assert records() == []


def test_generate_applies_quality(media: Path) -> None:
    photo = make_photo(size=(800, 600))
    low = AvatarThumbnail(source=photo.image, processors=[ResizeToFill(400, 300)]).generate()
    high = AvatarThumbnail(
        source=photo.image, processors=[ResizeToFill(400, 300)], options={"quality": 95}
    ).generate()
    assert low.size < high.size


# --- thumbnail(): stored, recorded, one generation -------------------------------------


def test_thumbnail_is_stored_recorded_and_made_once(media: Path, renders: list[int]) -> None:
    photo = make_photo()
    first = AvatarThumbnail(source=photo.image).thumbnail()
    assert isinstance(first, Thumbnail)
    assert (first.width, first.height, first.format) == (100, 50, "JPEG")
    assert stored(first) == ((100, 50), "JPEG")
    assert first.url == f"/media/{first.name}"
    assert records() == [first.name]
    again = AvatarThumbnail(source=photo.image).thumbnail()
    fresh = AvatarThumbnail(source=Photo.objects.get(pk=photo.pk).image).thumbnail()
    assert again == first
    assert fresh == first
    assert renders == [1]  # one generation for three calls
    # The same spec through the low-level API is the same file.
    assert get_thumbnail(photo.image, AvatarThumbnail().spec) == first


class SizedByTitle(ImageSpec):
    """A spec that changes: the row's title says the size (imagekit's get_field_info)."""

    format = "PNG"

    @property
    def processors(self) -> list[Any]:
        instance, field_name = get_field_info(self.source)
        assert field_name == "image"
        width, height = (int(v) for v in instance.title.split("x"))  # type: ignore[attr-defined]
        return [ResizeToFill(width, height)]


def test_specs_that_change_give_each_source_its_own_file(media: Path) -> None:
    wide = make_photo("w.jpg", title="80x40")
    square = make_photo("s.jpg", title="30x30")
    a = SizedByTitle(source=wide.image).thumbnail()
    b = SizedByTitle(source=square.image).thumbnail()
    assert (a.width, a.height) == (80, 40)
    assert (b.width, b.height) == (30, 30)
    assert stored(a) == ((80, 40), "PNG")
    assert stored(b) == ((30, 30), "PNG")
    assert a.name != b.name
    assert a.spec != b.spec
    assert SizedByTitle(source=wide.image).spec is not SizedByTitle(source=wide.image).spec


def test_get_field_info_refuses_plain_files() -> None:
    with pytest.raises(TypeError, match="not a file of a model instance"):
        get_field_info(ContentFile(b"x", name="x.jpg"))


class Named(ImageSpec):
    processors = [ResizeToFill(20, 20)]

    @property
    def namer(self) -> str:  # type: ignore[override]
        return "hash" if "hashed" in self.source.name else "source_name_as_path"


def test_a_property_namer_is_read_per_source(media: Path) -> None:
    hashed = make_photo("hashed.jpg").image
    plain = make_photo("plain.jpg").image
    assert Named(source=hashed).spec.namer == "hash"
    assert Named(source=plain).spec.namer == "source_name_as_path"


# --- the registry ----------------------------------------------------------------------


def test_register_generator_and_decorator() -> None:
    reg = Registry()
    assert reg.generator("myapp:thumbnail", AvatarThumbnail) is AvatarThumbnail

    @reg.generator("myapp:profile:avatar")
    class Avatar(ImageSpec):
        processors = [ResizeToFill(10, 10)]

    assert reg.get("myapp:profile:avatar") is Avatar
    made = reg.make("myapp:thumbnail", source="a.jpg")
    assert isinstance(made, AvatarThumbnail)
    assert made.source == "a.jpg"
    assert dict(reg.items()) == {"myapp:thumbnail": AvatarThumbnail, "myapp:profile:avatar": Avatar}


def test_registering_twice_is_harmless_but_another_generator_is_refused() -> None:
    reg = Registry()
    reg.generator("myapp:thumbnail", AvatarThumbnail)
    reg.generator("myapp:thumbnail", AvatarThumbnail)
    with pytest.raises(AlreadyRegistered, match="'myapp:thumbnail' is taken"):
        reg.generator("myapp:thumbnail", SizedByTitle)
    assert issubclass(AlreadyRegistered, ConfigurationError)
    assert reg.get("myapp:thumbnail") is AvatarThumbnail


def test_unknown_ids_raise_not_registered_listing_the_known_ones() -> None:
    reg = Registry()
    reg.generator("myapp:thumbnail", AvatarThumbnail)
    with pytest.raises(NotRegistered, match=r"'myapp:thumb'.*known: myapp:thumbnail"):
        reg.get("myapp:thumb")
    with pytest.raises(NotRegistered):
        reg.make("nope", source="a.jpg")
    assert issubclass(NotRegistered, ConfigurationError)
    reg.unregister("myapp:thumbnail")
    with pytest.raises(NotRegistered, match="known: none"):
        reg.get("myapp:thumbnail")


def test_id_patterns() -> None:
    reg = Registry()
    for id in ("myapp:thumbnail", "myapp:profile:avatar", "other:thumbnail", "myapp"):
        reg.generator(id, AvatarThumbnail)
    assert reg.ids() == ["myapp", "myapp:profile:avatar", "myapp:thumbnail", "other:thumbnail"]
    assert reg.ids(["myapp:*"]) == ["myapp:profile:avatar", "myapp:thumbnail"]
    assert reg.ids(["*:thumbnail"]) == ["myapp:thumbnail", "other:thumbnail"]
    assert reg.ids(["myapp:profile:*", "other:*"]) == ["myapp:profile:avatar", "other:thumbnail"]
    assert reg.ids(["myapp"]) == ["myapp"]  # no star: the exact id only
    assert reg.ids(["my.pp:*"]) == []  # regex characters are literal
    assert reg.ids(["*"]) == reg.ids()


class JpegsInADirectory:
    def __init__(self, dir: Path) -> None:
        self.dir = dir

    def files(self) -> Iterator[File]:  # type: ignore[type-arg]
        for path in sorted(self.dir.glob("*.jpg")):
            yield File(open(path, "rb"), name=path.name)  # noqa: SIM115


def test_source_groups(tmp_path: Path) -> None:
    reg = Registry()
    group = JpegsInADirectory(tmp_path)
    other = JpegsInADirectory(tmp_path / "x")
    reg.source_group("myapp:thumbnail", group)
    reg.source_group("myapp:thumbnail", group)  # the same group once
    reg.source_group("myapp:thumbnail", other)
    assert reg.source_groups("myapp:thumbnail") == [group, other]
    assert reg.source_groups("unknown") == []
    (tmp_path / "a.jpg").write_bytes(images.jpeg((60, 40)))
    (tmp_path / "b.jpg").write_bytes(images.jpeg((40, 60)))
    (tmp_path / "c.png").write_bytes(images.png((40, 60)))
    made = []
    for source in group.files():
        with source:
            made.append(AvatarThumbnail(source=source).generate())
    assert [(m.name, m.width, m.height) for m in made] == [("a.jpg", 100, 50), ("b.jpg", 100, 50)]


def test_imagekit_thumbnail_generator_is_registered() -> None:
    assert register.get("imagekit:thumbnail") is ThumbnailGenerator
    assert register.get("thumbkit:thumbnail") is ThumbnailGenerator
    assert "imagekit:thumbnail" in register.ids(["imagekit:*"])


def test_thumbnail_generator_crops_with_both_sides_and_fits_with_one(media: Path) -> None:
    photo = make_photo(size=(400, 300))
    both = register.make("imagekit:thumbnail", source=photo.image, width=100, height=50)
    one = register.make("imagekit:thumbnail", source=photo.image, width=100)
    anchored = register.make(
        "imagekit:thumbnail", source=photo.image, width=60, height=60, anchor="tl"
    )
    assert (both.generate().width, both.generate().height) == (100, 50)
    fitted = one.thumbnail()
    assert (fitted.width, fitted.height) == (100, 75)
    assert stored(anchored.thumbnail())[0] == (60, 60)


def test_register_on_the_global_registry(media: Path, scratch_ids: list[str]) -> None:
    scratch_ids.append("gen-test:avatar")
    register.generator("gen-test:avatar", AvatarThumbnail)
    photo = make_photo()
    t = register.make("gen-test:avatar", source=photo.image).thumbnail()
    assert (t.width, t.height) == (100, 50)
    assert register.ids(["gen-test:*"]) == ["gen-test:avatar"]


# --- autodiscovery of imagegenerators modules ------------------------------------------


def _generators_from(module: str) -> list[str]:
    return [id for id, gen in register.items() if getattr(gen, "__module__", "") == module]


@pytest.mark.skipif(
    importlib.util.find_spec("tests.testapp.imagegenerators") is None,
    reason="tests/testapp has no imagegenerators module",
)
def test_the_test_apps_imagegenerators_module_was_discovered_at_startup() -> None:
    assert "tests.testapp.imagegenerators" in sys.modules
    assert _generators_from("tests.testapp.imagegenerators")


def test_autodiscover_imports_each_installed_apps_imagegenerators(
    settings: Any, scratch_ids: list[str]
) -> None:
    module = "tests.genapp.imagegenerators"
    scratch_ids.extend(["genapp:thumbnail", "genapp:banner"])
    sys.modules.pop(module, None)
    register.unregister("genapp:thumbnail")
    register.unregister("genapp:banner")
    assert module not in sys.modules
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "tests.genapp"]):
        # Populating the app registry runs thumbkit's ready(), which discovers the module.
        assert module in sys.modules
        assert sorted(_generators_from(module)) == ["genapp:banner", "genapp:thumbnail"]
        autodiscover()  # again: harmless, the module is imported once
        assert sorted(register.ids(["genapp:*"])) == ["genapp:banner", "genapp:thumbnail"]


# --- processors-only specs: the "original" geometry ------------------------------------


def test_original_geometry_parses_and_has_one_canonical_text() -> None:
    spec = parse("original")
    assert not spec.has_geometry
    assert spec.geometry == "original"
    assert spec.canonical == "original"
    assert parse("original format=png quality=70").canonical == "original format=png quality=70"
    assert parse("original", format="PNG") == parse("original format=png")
    assert parse("100x50").has_geometry
    assert parse("x50").has_geometry
    assert parse("50").has_geometry


def test_original_keeps_the_source_size(media: Path) -> None:
    photo = make_photo(size=(321, 123))
    t = get_thumbnail(photo.image, "original format=png")
    assert (t.width, t.height, t.format) == (321, 123, "PNG")
    assert stored(t) == ((321, 123), "PNG")


def test_named_spec_without_size_but_with_processors(media: Path) -> None:
    specs = {
        "bw": {
            "processors": [
                {"PATH": "thumbkit.processors.ResizeToFit", "width": 50, "height": 50},
                "thumbkit.processors.Adjust",
            ],
            "colorspace": "gray",
            "format": "png",
        },
        "bad": {"quality": 80},
    }
    photo = make_photo(size=(400, 300))
    with thumbkit_settings(SPECS=specs):
        spec = api.get_spec("bw")
        assert not spec.has_geometry
        t = get_thumbnail(photo.image, "bw")
        assert (t.width, t.height) == (50, 38)
        with t.storage.open(t.name, "rb") as handle, Image.open(handle) as img:
            assert img.mode == "L"
        with pytest.raises(InvalidSpec, match="needs a 'size' geometry string or processors"):
            api.get_spec("bad")


# --- JPEG draft for processors-only specs ----------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    # 6000x4000 = 24 MP; its 1/8-scale DCT decode is 750x500 = 375000 px.
    return images.encode(images.make_image((6000, 4000)), "JPEG", quality=70)


def test_a_first_resizing_processor_drafts_the_jpeg(media: Path, big_jpeg: bytes) -> None:
    photo = Photo.objects.create(image=ContentFile(big_jpeg, name="big.jpg"))
    with thumbkit_settings(LIMITS={"MAX_SOURCE_PIXELS": 1_000_000}):
        t = AvatarThumbnail(source=photo.image).thumbnail()
        assert (t.width, t.height) == (100, 50)
        fit = AvatarThumbnail(source=photo.image, processors=[ResizeToFit(200, 200)]).generate()
        assert (fit.width, fit.height) == (200, 133)
        # Not resizing first: the full 24 MP must be decoded, over the cap, refused.
        later = AvatarThumbnail(
            source=photo.image, processors=[Adjust(contrast=1.2), ResizeToFill(100, 50)]
        )
        with pytest.raises(SourceTooLarge, match="6000x4000"):
            later.thumbnail()
    # Resizing first, but to a size the 1/8 decode would not cover: no draft either.
    with (
        thumbkit_settings(
            LIMITS={
                "MAX_SOURCE_PIXELS": 1_000_000,
                "MAX_OUTPUT_SIDE": 8000,
                "MAX_OUTPUT_PIXELS": None,
            }
        ),
        pytest.raises(SourceTooLarge, match="6000x4000"),
    ):
        AvatarThumbnail(source=photo.image, processors=[Resize(5000, 3000)]).generate()
    assert records() == [t.name]


# --- LIMITS on processors-only specs ---------------------------------------------------


def test_processor_output_over_the_cap_is_refused_before_decoding(media: Path) -> None:
    photo = make_photo(size=(400, 300))
    with thumbkit_settings(LIMITS={"MAX_OUTPUT_SIDE": 1000}):
        with pytest.raises(OutputTooLarge, match="1200x100"):
            AvatarThumbnail(source=photo.image, processors=[Resize(1200, 100)]).thumbnail()
        # A spec that keeps the source size is held to the output caps as well; there the
        # upload is to blame (the same spec fits a smaller one): a source error, which
        # templates skip, not a spec error.
        big = make_photo("big.jpg", size=(1500, 200))
        with pytest.raises(SourceTooLarge, match="1500x200"):
            AvatarThumbnail(source=big.image, processors=[Adjust(contrast=1.1)]).thumbnail()
    assert records() == []
    assert [n for n in files_under(str(media)) if n.startswith("thumbs")] == []


class Tile:
    """A custom processor that cannot predict its size: checked after it ran."""

    def process(self, image: Image.Image) -> Image.Image:
        return Image.new("RGB", (image.width * 4, image.height))


class Broken:
    def process(self, image: Image.Image) -> Image.Image:
        raise RuntimeError("watermark missing")


def test_custom_processor_results_are_checked_and_failures_typed(media: Path) -> None:
    photo = make_photo(size=(400, 300))
    with (
        thumbkit_settings(LIMITS={"MAX_OUTPUT_SIDE": 1000}),
        pytest.raises(OutputTooLarge, match="1600x300"),
    ):
        AvatarThumbnail(source=photo.image, processors=[Tile()]).thumbnail()
    with pytest.raises(GenerationError, match="watermark missing"):
        AvatarThumbnail(source=photo.image, processors=[Broken()]).thumbnail()
    assert records() == []
    assert [n for n in files_under(str(media)) if n.startswith("thumbs")] == []


# --- namers ----------------------------------------------------------------------------


def test_each_namer_gives_its_documented_shape(media: Path) -> None:
    photo = make_photo("Été Photo.JPG")
    src = coerce(photo.image)
    spec = AvatarThumbnail().spec
    key = thumbnail_key(src, spec)
    assert photo.image.name == "photos/Été_Photo.JPG"  # Django's get_valid_name
    names = {name: namer(src, spec, key, "JPEG", "thumbs") for name, namer in NAMERS.items()}
    assert names == {
        "default": f"thumbs/{key[:2]}/{key[2:4]}/ete_photo-{key[:16]}.jpg",
        "hash": f"thumbs/{key[:2]}/{key[2:4]}/{key}.jpg",
        "source_name_as_path": f"thumbs/photos/ete_photo/{key[:16]}.jpg",
        "source_name_dot_hash": f"thumbs/photos/ete_photo.{key[:12]}.jpg",
    }
    # An empty prefix never makes an absolute name.
    assert NAMERS["hash"](src, spec, key, "PNG", "") == f"{key[:2]}/{key[2:4]}/{key}.png"


@pytest.mark.parametrize("namer", sorted(NAMERS))
def test_the_namer_setting_names_generated_files(media: Path, namer: str) -> None:
    photo = make_photo("cat.jpg")
    with thumbkit_settings(NAMER=namer, PREFIX="CACHE/images"):
        t = AvatarThumbnail(source=photo.image).thumbnail()
        src = coerce(photo.image)
        expected = NAMERS[namer](src, AvatarThumbnail().spec, t.key, "JPEG", "CACHE/images")
    assert t.name == expected
    assert (media / t.name).is_file()
    assert records() == [t.name]


def test_spec_namer_overrides_the_setting(media: Path) -> None:
    photo = make_photo("cat.jpg")
    with thumbkit_settings(NAMER="hash"):
        t = AvatarThumbnail(source=photo.image, namer="source_name_dot_hash").thumbnail()
    assert t.name == f"thumbs/photos/cat.{t.key[:12]}.jpg"


NOT_A_NAMER = "hash"


def flat_namer(source: Any, spec: Any, key: str, fmt: str, prefix: str) -> str:
    return f"{prefix}/flat-{key[:8]}.{fmt.lower()}"


def test_a_dotted_path_namer(media: Path) -> None:
    photo = make_photo()
    assert get_namer("tests.test_generators.flat_namer") is flat_namer
    with thumbkit_settings(NAMER="tests.test_generators.flat_namer"):
        t = AvatarThumbnail(source=photo.image).thumbnail()
    assert t.name == f"thumbs/flat-{t.key[:8]}.jpeg"
    assert (media / t.name).is_file()


@pytest.mark.parametrize("name", ["nope", "no.such.module.namer", "tests.test_generators.nope"])
def test_an_unknown_namer_is_a_configuration_error(media: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"Unknown namer '{name}'.*default, hash"):
        get_namer(name)
    photo = make_photo()
    with thumbkit_settings(NAMER=name), pytest.raises(ConfigurationError):
        AvatarThumbnail(source=photo.image).thumbnail()
    assert records() == []
    assert [n for n in files_under(str(media)) if n.startswith("thumbs")] == []


def test_a_namer_that_is_not_callable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not callable"):
        get_namer("tests.test_generators.NOT_A_NAMER")


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc/x.jpg",
        "/etc/passwd.jpg",
        "a/../../../b.jpg",
        "..\\..\\windows\\x.jpg",
        "./././x.jpg",
        "../..",
        "photos/..jpg",
        "ü/../ñ.jpg",
    ],
)
def test_names_never_leave_the_prefix(hostile: str) -> None:
    from django.core.files.storage import default_storage

    src = coerce(hostile, storage=default_storage)
    spec = AvatarThumbnail().spec
    key = thumbnail_key(src, spec)
    for name, namer in NAMERS.items():
        made = namer(src, spec, key, "JPEG", "thumbs")
        parts = made.split("/")
        assert parts[0] == "thumbs", (name, made)
        assert posixpath.normpath(made) == made, (name, made)
        assert all(part not in ("", ".", "..") for part in parts), (name, made)
        assert not parts[-1].startswith("."), (name, made)
        assert "\\" not in made, (name, made)


# --- storage per spec ------------------------------------------------------------------


@pytest.fixture
def two_storages(settings: Any, tmp_path: Path) -> tuple[Path, Path]:
    main, other = tmp_path / "main", tmp_path / "other"
    settings.MEDIA_ROOT = str(main)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(other), "base_url": "/archive/"},
        },
    }
    return main, other


def test_a_spec_with_its_own_storage_writes_there(two_storages: tuple[Path, Path]) -> None:
    main, other = two_storages
    photo = make_photo()
    here = AvatarThumbnail(source=photo.image).thumbnail()
    there = AvatarThumbnail(source=photo.image, storage="archive").thumbnail()
    assert here.key != there.key  # same pipeline, two storages: two files
    assert there.storage_alias == "archive"
    assert here.storage_alias == "default"
    assert there.storage is storages["archive"]
    assert (other / there.name).is_file()
    assert not (main / there.name).exists()
    assert (main / here.name).is_file()
    assert not (other / here.name).exists()
    assert there.url == f"/archive/{there.name}"
    assert stored(there) == ((100, 50), "JPEG")
    assert sorted(records()) == sorted([here.name, there.name])


def test_storage_as_a_spec_option_and_imagekit_cachefile_storage(
    two_storages: tuple[Path, Path],
) -> None:
    _main, other = two_storages

    class Archived(AvatarThumbnail):
        cachefile_storage = "archive"

    photo = make_photo()
    t = Archived(source=photo.image).thumbnail()
    assert t.storage_alias == "archive"
    assert (other / t.name).is_file()
    inline = get_thumbnail(photo.image, "100x50 crop", storage="archive")
    assert inline.storage_alias == "archive"
    assert (other / inline.name).is_file()
    assert parse("100x50 storage=archive").storage == "archive"


def test_the_storage_setting_is_the_default_for_specs(two_storages: tuple[Path, Path]) -> None:
    _main, other = two_storages
    photo = make_photo()
    with thumbkit_settings(STORAGE="archive"):
        t = AvatarThumbnail(source=photo.image).thumbnail()
    assert t.storage_alias == "archive"
    assert (other / t.name).is_file()


# --- fallbacks and <img> for placeholders ----------------------------------------------


def test_predict_is_the_name_the_thumbnail_gets(media: Path) -> None:
    photo = make_photo("p.jpg")
    src = coerce(photo.image)
    spec = AvatarThumbnail().spec
    key = thumbnail_key(src, spec)
    guess = fallback(src, spec, key, "predict")
    assert isinstance(guess, Thumbnail)
    assert guess
    assert (guess.width, guess.height, guess.format) == (0, 0, "JPEG")
    assert guess == predicted(src, spec, key)
    assert not (media / guess.name).exists()
    assert tag(img_tag(guess, {"alt": "me"})) == [{"src": f"/media/{guess.name}", "alt": "me"}]
    made = AvatarThumbnail(source=photo.image).thumbnail()
    assert (made.name, made.url, made.key) == (guess.name, guess.url, guess.key)
    assert tag(img_tag(made, {"alt": "me"})) == [
        {"src": f"/media/{made.name}", "width": "100", "height": "50", "alt": "me"}
    ]


def test_predicted_format_follows_the_source_when_the_spec_has_none(media: Path) -> None:
    png = coerce("photos/x.png")
    bmp = coerce("photos/x.bmp")
    spec = parse("100x50")
    assert predicted(png, spec, thumbnail_key(png, spec)).name.endswith(".png")
    assert predicted(bmp, spec, thumbnail_key(bmp, spec)).format == "JPEG"
    webp = parse("100x50 format=webp")
    assert predicted(png, webp, thumbnail_key(png, webp)).name.endswith(".webp")


def test_source_none_and_url_fallbacks_are_falsy_placeholders(media: Path) -> None:
    photo = make_photo("p.jpg")
    src = coerce(photo.image)
    spec = AvatarThumbnail().spec
    key = thumbnail_key(src, spec)
    source = fallback(src, spec, key, "source")
    nothing = fallback(src, spec, key, "none")
    wait = fallback(src, spec, key, "/static/img/wait.svg")
    for placeholder in (source, nothing, wait):
        assert isinstance(placeholder, Placeholder)
        assert not placeholder
        assert placeholder.key == key
    assert source.url == "/media/photos/p.jpg"
    assert source.name == "photos/p.jpg"
    assert str(source) == source.url
    assert tag(img_tag(source, {"alt": "x", "width": None})) == [
        {"src": "/media/photos/p.jpg", "alt": "x"}
    ]
    assert nothing.url == ""
    assert img_tag(nothing, {"alt": "x"}) == ""
    assert tag(img_tag(wait)) == [{"src": "/static/img/wait.svg"}]
    sized = Placeholder("/static/p.png", width=40, height=30)
    assert tag(img_tag(sized, {"src": "/evil", "class": "p"})) == [
        {"src": "/static/p.png", "width": "40", "height": "30", "class": "p"}
    ]


def test_img_tag_escapes_attributes() -> None:
    placeholder = Placeholder('/static/"x".png')
    html = img_tag(placeholder, {"alt": "<b>&"})
    assert "&quot;x&quot;" in html
    assert "&lt;b&gt;&amp;" in html
    assert tag(html) == [{"src": '/static/"x".png', "alt": "<b>&"}]


def tag(html: str) -> list[dict[str, str | None]]:
    parser = Images()
    parser.feed(html)
    return parser.found


# --- references: rebuilding a generator's spec in another process ----------------------


def test_specs_of_registered_generators_carry_a_reference(scratch_ids: list[str]) -> None:
    import json

    from thumbkit.lookup import refs

    scratch_ids.append("gen-test:ref")
    register.generator("gen-test:ref", AvatarThumbnail)
    made = register.make("gen-test:ref", source="a.jpg")
    assert made.spec.ref is not None
    assert json.loads(made.spec.ref) == {"generator": "gen-test:ref", "kwargs": {}}
    assert refs.spec_from_ref(made.spec.ref, source="a.jpg") == AvatarThumbnail().spec
    # Made directly, an importable class is referenced by its path.
    direct = AvatarThumbnail(source="a.jpg").spec
    assert direct.ref is not None
    assert json.loads(direct.ref) == {
        "class": "tests.test_generators.AvatarThumbnail",
        "kwargs": {},
    }
    with_kwargs = AvatarThumbnail(source="a.jpg", format="PNG").spec
    assert with_kwargs.ref is not None
    assert refs.spec_from_ref(with_kwargs.ref, source="a.jpg") == with_kwargs
    # The reference is not part of the key: one file however the spec was reached.
    assert made.spec == direct


def test_thumbnail_generator_references_its_own_arguments() -> None:
    import json

    from thumbkit.lookup import refs

    made = register.make("imagekit:thumbnail", source="a.jpg", width=100, height=50)
    assert made.spec.ref is not None
    assert json.loads(made.spec.ref) == {
        "generator": "imagekit:thumbnail",
        "kwargs": {"height": 50, "width": 100},
    }
    assert refs.spec_from_ref(made.spec.ref, source="a.jpg") == made.spec


def test_classes_made_at_run_time_have_no_reference() -> None:
    class Local(ImageSpec):
        processors = [ResizeToFill(10, 10)]

    assert Local().spec.ref is None
    # Nor do specs whose arguments are not JSON.
    assert AvatarThumbnail(processors=[ResizeToFill(5, 5)]).spec.ref is None


class SizedByArguments(ImageSpec):
    """A generator with its own constructor, setting spec attributes on the instance."""

    def __init__(self, source: Any = None, width: int = 10, height: int = 10) -> None:
        super().__init__(source)
        self.processors = [ResizeToFill(int(width), int(height))]


def test_instance_attributes_set_by_a_constructor_are_not_cached_per_class(
    scratch_ids: list[str],
) -> None:
    import json

    from thumbkit.lookup import refs

    small = SizedByArguments(source="a.jpg", width=20, height=10).spec
    large = SizedByArguments(source="a.jpg", width=200, height=100).spec
    assert small != large
    assert "width=20" in small.canonical
    assert "width=200" in large.canonical
    # Made directly, its constructor's arguments are unknown: no reference at all (one
    # naming the class would rebuild it with the default size).
    assert small.ref is None
    # Made by id, the id and the arguments rebuild it.
    scratch_ids.append("gen-test:sized")
    register.generator("gen-test:sized", SizedByArguments)
    made = register.make("gen-test:sized", source="a.jpg", width=60, height=30)
    assert made.spec.ref is not None
    assert json.loads(made.spec.ref) == {
        "generator": "gen-test:sized",
        "kwargs": {"height": 30, "width": 60},
    }
    assert refs.spec_from_ref(made.spec.ref, source="a.jpg") == made.spec
    assert "width=60" in made.spec.canonical
