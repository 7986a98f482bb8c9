"""How each library makes the generation benchmark's three thumbnails.

Cases: ``jpeg-crop`` (4000x3000 JPEG to a 300x300 centre crop, JPEG), ``jpeg-webp`` (the same
JPEG to 1600 px wide, WebP), ``png-alpha`` (2000x1500 RGBA PNG fitted in 200x200, PNG) and
``jpeg-avif`` (the same JPEG to 800 px wide, AVIF, each library at its own AVIF speed).
Animated cases: ``gif-anim`` (a 60-frame 480x360 GIF fitted in 200x200, GIF) and
``webp-anim`` (the same frames as an animated WebP, fitted in 200x200, WebP). thumbkit, the
floors and sorl-thumbnail's vips engine (GIF only) keep every frame; imagekit, easy-thumbnails
and sorl-thumbnail's PIL engine write the first frame (``describe`` reports the frames made).
Quality is 85 everywhere it applies. Libraries go through their public call with a
FileSystemStorage and an in-memory SQLite database for their records (so the time includes
reading the source from storage and writing the result); the two floors work on the file
and return bytes.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

from ..common import Env, base_settings, configure

QUALITY = 85
AVIF_WIDTH = 800
# The floors encode AVIF as thumbkit does by default (Pillow speed 8, libvips effort 2).
AVIF_SPEED = 8


class Runner:
    """Makes one case's thumbnail from a source name (relative to ``media``)."""

    def __init__(self, media: Path, env: Env) -> None:
        self.media = media

    def run(self, name: str, case: str) -> Path | bytes:
        raise NotImplementedError

    def describe(self, produced: Path | bytes) -> dict[str, Any]:
        from PIL import Image

        data = produced.read_bytes() if isinstance(produced, Path) else produced
        with Image.open(io.BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
            described = {"size": list(image.size), "format": image.format, "bytes": len(data)}
            return {**described, "frames": frames}


ANIMATED_FORMATS = {"gif-anim": "GIF", "webp-anim": "WEBP"}


def _fitted(size: tuple[int, int], box: int) -> tuple[int, int]:
    scale = min(box / size[0], box / size[1])
    return round(size[0] * scale), round(size[1] * scale)


class PillowFloor(Runner):
    """``Image.open`` -> ``draft`` (JPEG) -> ``resize`` (LANCZOS, crop box) -> ``save``."""

    def run(self, name: str, case: str) -> bytes:
        from PIL import Image, ImageSequence

        if case in ANIMATED_FORMATS:  # every frame resized, durations and loop kept
            with Image.open(self.media / name) as image:
                size = _fitted(image.size, 200)
                frames, durations = [], []
                for frame in ImageSequence.Iterator(image):
                    frame.load()
                    durations.append(frame.info.get("duration", 40))
                    frames.append(frame.convert("RGB").resize(size, Image.Resampling.LANCZOS))
            fmt, buffer = ANIMATED_FORMATS[case], io.BytesIO()
            quality = {"quality": QUALITY} if fmt == "WEBP" else {}
            frames[0].save(
                buffer,
                fmt,
                save_all=True,
                append_images=frames[1:],
                duration=durations,
                loop=0,
                **quality,
            )
            return buffer.getvalue()
        with Image.open(self.media / name) as image:
            if case == "jpeg-crop":
                out, fmt = _pillow_crop(image, 300), "JPEG"
            elif case in ("jpeg-webp", "jpeg-avif"):
                side, fmt = (1600, "WEBP") if case == "jpeg-webp" else (AVIF_WIDTH, "AVIF")
                width, height = image.size
                image.draft("RGB", (side, math.ceil(side * height / width)))
                size = (side, round(side * height / width))
                out = image.resize(size, Image.Resampling.LANCZOS)
            else:
                scale = min(200 / image.width, 200 / image.height)
                size = (round(image.width * scale), round(image.height * scale))
                out, fmt = image.resize(size, Image.Resampling.LANCZOS), "PNG"
        buffer = io.BytesIO()
        options = {"quality": QUALITY, **({"speed": AVIF_SPEED} if fmt == "AVIF" else {})}
        out.save(buffer, fmt, **({} if fmt == "PNG" else options))
        return buffer.getvalue()


def _pillow_crop(image: Any, side: int) -> Any:
    from PIL import Image

    width, height = image.size
    scale = max(side / width, side / height)
    image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    width, height = image.size  # the decoder's reduced size
    span = min(width, height)  # the centred square that is scaled to side x side
    left, top = (width - span) / 2, (height - span) / 2
    box = (left, top, left + span, top + span)
    return image.resize((side, side), Image.Resampling.LANCZOS, box=box)


class VipsFloor(Runner):
    """pyvips ``thumbnail_buffer`` (shrink-on-load) -> ``write_to_buffer``."""

    def __init__(self, media: Path, env: Env) -> None:
        import pyvips

        super().__init__(media, env)
        pyvips.cache_set_max(0)  # every run decodes again, like the other libraries

    def run(self, name: str, case: str) -> bytes:
        import pyvips

        data = (self.media / name).read_bytes()
        if case in ANIMATED_FORMATS:
            image = pyvips.Image.thumbnail_buffer(data, 200, height=200, option_string="n=-1")
            suffix = ".gif" if case == "gif-anim" else ".webp"
            options = {"Q": QUALITY} if suffix == ".webp" else {}
            return bytes(image.write_to_buffer(suffix, **options))
        if case == "jpeg-crop":
            image = pyvips.Image.thumbnail_buffer(data, 300, height=300, crop="centre")
            out: bytes = image.write_to_buffer(".jpg", Q=QUALITY)
        elif case == "jpeg-webp":
            image = pyvips.Image.thumbnail_buffer(data, 1600, size="down")
            out = image.write_to_buffer(".webp", Q=QUALITY)
        elif case == "jpeg-avif":
            image = pyvips.Image.thumbnail_buffer(data, AVIF_WIDTH, size="down")
            out = image.write_to_buffer(".avif", Q=QUALITY, effort=2, compression="av1")
        else:
            image = pyvips.Image.thumbnail_buffer(data, 200, height=200, size="down")
            out = image.write_to_buffer(".png")
        return out


def django_settings(media: Path, env: Env, apps: list[str], **extra: Any) -> dict[str, Any]:
    settings = base_settings(env, "gen")
    counting = settings["STORAGES"]["default"]
    counting["OPTIONS"] = {"location": str(media), "base_url": "/media/"}
    settings["STORAGES"]["easy_thumbnails"] = counting
    settings["MEDIA_ROOT"] = str(media)
    settings["DATABASES"] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    }
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], *apps]
    return {**settings, **extra}


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


class Thumbkit(Runner):
    engine = "pillow"

    def __init__(self, media: Path, env: Env) -> None:
        super().__init__(media, env)
        thumbkit = {"ENGINE": self.engine, "STORE": "db", "QUALITY": QUALITY}
        configure(django_settings(media, env, ["thumbkit"], THUMBKIT=thumbkit))
        migrate()

    def run(self, name: str, case: str) -> Path:
        from thumbkit import get_thumbnail

        if case == "jpeg-crop":
            thumb = get_thumbnail(name, "300x300", crop="center")
        elif case == "jpeg-webp":
            thumb = get_thumbnail(name, "1600", format="webp")
        elif case == "jpeg-avif":
            thumb = get_thumbnail(name, str(AVIF_WIDTH), format="avif")
        elif case in ANIMATED_FORMATS:
            thumb = get_thumbnail(name, "200x200", format=ANIMATED_FORMATS[case])
        else:
            thumb = get_thumbnail(name, "200x200")
        return self.media / str(thumb.name)


class ThumbkitVips(Thumbkit):
    engine = "vips"


class Sorl(Runner):
    engine = "sorl.thumbnail.engines.pil_engine.Engine"

    def __init__(self, media: Path, env: Env) -> None:
        super().__init__(media, env)
        options = {"THUMBNAIL_QUALITY": QUALITY, "THUMBNAIL_DEBUG": True}
        options["THUMBNAIL_ENGINE"] = self.engine
        configure(django_settings(media, env, ["sorl.thumbnail"], **options))
        migrate()

    def run(self, name: str, case: str) -> Path:
        from sorl.thumbnail import get_thumbnail

        if case == "jpeg-crop":
            thumb = get_thumbnail(name, "300x300", crop="center")
        elif case == "jpeg-webp":
            thumb = get_thumbnail(name, "1600", format="WEBP")
        elif case == "jpeg-avif":
            thumb = get_thumbnail(name, str(AVIF_WIDTH), format="AVIF")
        elif case in ANIMATED_FORMATS:
            thumb = get_thumbnail(name, "200x200", format=ANIMATED_FORMATS[case])
        else:
            thumb = get_thumbnail(name, "200x200", format="PNG")
        return self.media / str(thumb.name)


class SorlVips(Sorl):
    """sorl-thumbnail 13.4 on its libvips engine (``sorl.thumbnail.engines.vips_engine``): it
    thumbnails a GIF frame by frame."""

    engine = "sorl.thumbnail.engines.vips_engine.Engine"


class Easy(Runner):
    def __init__(self, media: Path, env: Env) -> None:
        super().__init__(media, env)
        options = {"THUMBNAIL_QUALITY": QUALITY, "THUMBNAIL_DEBUG": True}
        configure(django_settings(media, env, ["easy_thumbnails"], **options))
        migrate()

    def run(self, name: str, case: str) -> Path:
        from django.core.files.storage import default_storage
        from easy_thumbnails.files import get_thumbnailer

        thumbnailer = get_thumbnailer(default_storage, name)
        if case == "jpeg-crop":
            thumb = thumbnailer.get_thumbnail({"size": (300, 300), "crop": True})
        elif case == "jpeg-webp":
            thumbnailer.thumbnail_extension = "webp"
            thumb = thumbnailer.get_thumbnail({"size": (1600, 0)})
        elif case == "jpeg-avif":
            thumbnailer.thumbnail_extension = "avif"
            thumb = thumbnailer.get_thumbnail({"size": (AVIF_WIDTH, 0)})
        elif case in ANIMATED_FORMATS:
            thumbnailer.thumbnail_extension = ANIMATED_FORMATS[case].lower()
            thumb = thumbnailer.get_thumbnail({"size": (200, 200)})
        else:  # transparent: saved as PNG (THUMBNAIL_TRANSPARENCY_EXTENSION)
            thumb = thumbnailer.get_thumbnail({"size": (200, 200)})
        return self.media / str(thumb.name)


class Imagekit(Runner):
    def __init__(self, media: Path, env: Env) -> None:
        super().__init__(media, env)
        configure(django_settings(media, env, ["imagekit"]))
        from imagekit import ImageSpec
        from imagekit.processors import ResizeToFill, ResizeToFit

        def spec(processor: Any, fmt: str) -> type[Any]:
            options = {} if fmt == "PNG" else {"quality": QUALITY}
            attrs = {"processors": [processor], "format": fmt, "options": options}
            return type(f"Spec{fmt}", (ImageSpec,), attrs)

        self.specs = {
            "jpeg-crop": spec(ResizeToFill(300, 300), "JPEG"),
            "jpeg-webp": spec(ResizeToFit(width=1600, upscale=False), "WEBP"),
            "png-alpha": spec(ResizeToFit(200, 200, upscale=False), "PNG"),
            "jpeg-avif": spec(ResizeToFit(width=AVIF_WIDTH, upscale=False), "AVIF"),
            "gif-anim": spec(ResizeToFit(200, 200, upscale=False), "GIF"),
            "webp-anim": spec(ResizeToFit(200, 200, upscale=False), "WEBP"),
        }

    def run(self, name: str, case: str) -> Path:
        from django.core.files.storage import default_storage
        from imagekit.cachefiles import ImageCacheFile

        with default_storage.open(name) as source:
            cached = ImageCacheFile(self.specs[case](source=source))
            cached.generate(force=True)
        return self.media / str(cached.name)


RUNNERS: dict[str, type[Runner]] = {
    "pillow": PillowFloor,
    "pyvips": VipsFloor,
    "thumbkit": Thumbkit,
    "thumbkit-vips": ThumbkitVips,
    "sorl": Sorl,
    "sorl-vips": SorlVips,
    "easy": Easy,
    "imagekit": Imagekit,
}
