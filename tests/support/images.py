"""Image bytes for upload tests: real images of every accepted format, and files that only pretend to be."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def image_bytes(fmt: str = "PNG", size=(4, 3), color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    mode = "RGB" if fmt in ("JPEG", "WEBP") else "RGBA" if fmt == "PNG" else "P"
    image = Image.new(mode if mode != "P" else "RGB", size, color)
    if mode == "P":
        image = image.convert("P")
    image.save(out, fmt, **save)
    return out.getvalue()


def png(size=(4, 3)) -> bytes:
    return image_bytes("PNG", size)


def jpeg_with_gps() -> bytes:
    """A JPEG whose EXIF carries a camera model and GPS coordinates."""
    exif = Image.Exif()
    exif[0x0110] = "SpyCam 3000"  # Model
    exif[0x8825] = {1: "S", 2: (6.0, 10.0, 0.0), 3: "E", 4: (106.0, 49.0, 0.0)}  # GPSInfo
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 10)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", (5, 5), (i * 60, 0, 0)).convert("P") for i in range(frames)]
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


def webp() -> bytes:
    return image_bytes("WEBP", (6, 6))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width x height pixels (never allocated)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def truncated_png() -> bytes:
    data = image_bytes("PNG", (64, 64), color=(1, 2, 3, 4))
    return data[: len(data) // 2]


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script></svg>')


def zip_file() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    return out.getvalue()


def polyglot() -> bytes:
    """A real PNG followed by HTML: decodes fine, but the appended bytes must not be stored."""
    return png() + HTML
