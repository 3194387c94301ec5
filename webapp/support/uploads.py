"""What counts as an acceptable attachment: at most N files, each at most M bytes, each a real image.

`verify_uploads` is a pure check (no disk, no database): it decodes every file with Pillow (JPEG, PNG,
GIF, WebP only; verify() then a full load, so truncated files fail), refuses images over the pixel cap
before decoding them (decompression bombs), and re-encodes the pixels, which drops EXIF/GPS and any
bytes appended to the image (polyglots). Type and extension come from the decoded format; the client's
file name is kept, cleaned, for display only. Failures are the original's three 400 messages, checked
in its order: count, then each size, then each type.
"""
from __future__ import annotations

import io
import unicodedata
from struct import error as struct_error  # Pillow lets it escape on some corrupt headers
from dataclasses import dataclass
from typing import IO, Iterable, Mapping

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from .errors import FileTooLarge, InvalidFileType, TooManyFiles

# Decoded format -> (extension, MIME type). Nothing else is ever stored (SVG in particular).
FORMATS = {"JPEG": (".jpg", "image/jpeg"), "PNG": (".png", "image/png"), "GIF": (".gif", "image/gif"),
           "WEBP": (".webp", "image/webp")}
MAX_FILENAME_LENGTH = 255
MAX_FRAMES = 100


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 5
    max_bytes: int = 5 * 1024 * 1024
    max_pixels: int = 40_000_000

    @classmethod
    def from_config(cls, config: Mapping) -> "UploadLimits":
        return cls(max_files=int(config.get("UPLOAD_MAX_FILES", cls.max_files)),
                   max_bytes=int(config.get("UPLOAD_MAX_BYTES", cls.max_bytes)),
                   max_pixels=int(config.get("UPLOAD_MAX_PIXELS", cls.max_pixels)))


@dataclass
class RawUpload:
    """A file as received: the client's name, its bytes (at most max_bytes + 1 kept) and its real size."""

    filename: str
    stream: IO[bytes]
    size: int


@dataclass(frozen=True)
class VerifiedImage:
    filename: str  # cleaned display name
    data: bytes  # re-encoded image
    format: str
    extension: str
    mime_type: str
    width: int
    height: int


def clean_filename(name: str | None) -> str:
    """Display name: no directories, no control characters, at most 255 characters, never empty."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp")).strip()
    if name in ("", ".", ".."):
        name = "attachment"
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and 0 < len(ext) <= 10 else ""
        name = name[: MAX_FILENAME_LENGTH - len(ext)] + ext
    return name


def verify_uploads(uploads: Iterable[RawUpload], limits: UploadLimits) -> list[VerifiedImage]:
    uploads = list(uploads)
    if len(uploads) > limits.max_files:
        raise TooManyFiles(limit=limits.max_files)
    for upload in uploads:
        if upload.size > limits.max_bytes:
            raise FileTooLarge(name=clean_filename(upload.filename), limit=_megabytes(limits.max_bytes))
    verified = []
    for upload in uploads:
        name = clean_filename(upload.filename)
        upload.stream.seek(0)
        data = upload.stream.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:  # the declared size lied
            raise FileTooLarge(name=name, limit=_megabytes(limits.max_bytes))
        verified.append(verify_image(name, data, max_pixels=limits.max_pixels))
    return verified


def verify_image(name: str, data: bytes, *, max_pixels: int) -> VerifiedImage:
    """Decode, bound and re-encode one image; anything that is not a sound JPEG/PNG/GIF/WebP is InvalidFileType."""
    try:
        return _reencode(name, data, max_pixels)
    except (_Refused, UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError,
            EOFError, IndexError, TypeError, MemoryError, KeyError, ZeroDivisionError, struct_error):
        raise InvalidFileType(name=name) from None


class _Refused(Exception):
    """Decodable, but not acceptable (format outside the list, too many pixels or frames)."""


def _reencode(name: str, data: bytes, max_pixels: int) -> VerifiedImage:
    formats = list(FORMATS)
    with Image.open(io.BytesIO(data), formats=formats) as probe:
        _check_bounds(probe, max_pixels)  # header only: nothing decoded yet
        probe.verify()
    with Image.open(io.BytesIO(data), formats=formats) as image:
        fmt = image.format
        _check_bounds(image, max_pixels)
        frames = getattr(image, "n_frames", 1)
        if frames > MAX_FRAMES or image.width * image.height * frames > max_pixels:
            raise _Refused("too many pixels across frames")
        out = io.BytesIO()
        if fmt == "JPEG":
            image.load()
            upright = ImageOps.exif_transpose(image)
            if upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
            upright.save(out, "JPEG", quality=90, icc_profile=image.info.get("icc_profile"))
            width, height = upright.size
        elif fmt == "PNG":
            image.load()
            image.save(out, "PNG", icc_profile=image.info.get("icc_profile"))
            width, height = image.size
        else:  # GIF, WEBP: keep animation, drop everything else
            decoded = [frame.copy() for frame in ImageSequence.Iterator(image)]
            first, rest = decoded[0], decoded[1:]
            options = {"save_all": bool(rest), "append_images": rest}
            if rest:
                options["duration"] = image.info.get("duration", 100)
                options["loop"] = image.info.get("loop", 0)
            if fmt == "WEBP":
                options["quality"] = 90
            first.save(out, fmt, **options)
            width, height = image.size
    extension, mime = FORMATS[fmt]
    return VerifiedImage(filename=name, data=out.getvalue(), format=fmt, extension=extension, mime_type=mime,
                         width=width, height=height)


def _check_bounds(image, max_pixels: int) -> None:
    if image.format not in FORMATS:
        raise _Refused(image.format)
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise _Refused("pixel cap")


def _megabytes(limit: int) -> str:
    value = limit / (1024 * 1024)
    return str(int(value)) if value == int(value) else f"{value:g}"
