"""Container walkers and header patches for the generated corpus (tests/corpus.py).

Each walker returns the byte offsets where one chunk, segment, block or box ends and the
next begins: truncating a file exactly there is the cut a decoder is most likely to
mishandle (the header says more follows, and nothing does). Patches rewrite one header
field (dimensions, a CRC) and keep everything else byte-for-byte.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG markers without a length field.
STANDALONE = {0x01, 0xD8, 0xD9, *range(0xD0, 0xD8)}
# Start-of-frame markers (every coding process), where the frame's dimensions are.
SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


# --- PNG ---------------------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    body = kind + data
    value = zlib.crc32(body) if crc is None else crc
    return struct.pack(">I", len(data)) + body + struct.pack(">I", value & 0xFFFFFFFF)


def png_chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(offset, type, end) of every chunk, stopping at the first one that does not fit."""
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            return
        yield pos, data[pos + 4 : pos + 8], end
        pos = end


def png_boundaries(data: bytes) -> list[tuple[str, int]]:
    cuts = [("signature", len(PNG_SIGNATURE))]
    for index, (_, kind, end) in enumerate(png_chunks(data)):
        if end < len(data):
            cuts.append((f"{index}-{kind.decode('latin-1')}", end))
    return cuts


def png_replace(
    data: bytes, kind: bytes, new: bytes | None = None, crc: int | None = None
) -> bytes:
    """The first ``kind`` chunk with new contents and/or a given CRC (correct CRC otherwise)."""
    for pos, found, end in png_chunks(data):
        if found == kind:
            old = data[pos + 8 : end - 4]
            return data[:pos] + png_chunk(kind, old if new is None else new, crc) + data[end:]
    raise ValueError(f"no {kind!r} chunk")


def png_ihdr(data: bytes, width: int, height: int) -> bytes:
    for pos, kind, _ in png_chunks(data):
        if kind == b"IHDR":
            rest = data[pos + 16 : pos + 8 + 13]
            return png_replace(data, b"IHDR", struct.pack(">II", width, height) + rest)
    raise ValueError("no IHDR")


def png_bad_crc(data: bytes, kind: bytes) -> bytes:
    for _, found, end in png_chunks(data):
        if found == kind:
            (crc,) = struct.unpack(">I", data[end - 4 : end])
            return png_replace(data, kind, crc=crc ^ 0x5A5A5A5A)
    raise ValueError(f"no {kind!r} chunk")


def png_raw(width: int, height: int, depth: int, colour: int, rows: list[bytes]) -> bytes:
    """A PNG written by hand, for the modes Pillow cannot save (16-bit RGB/RGBA)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# --- JPEG --------------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(offset, marker) of every marker after SOI, entropy-coded data skipped."""
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        yield pos, marker
        if marker in STANDALONE:
            pos += 2
            if marker == 0xD9:
                return
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
        if marker == 0xDA:
            pos = _scan_end(data, pos)


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data that starts at ``pos`` ends (its next real marker)."""
    while pos + 1 < len(data):
        if data[pos] == 0xFF and data[pos + 1] not in (0x00, *range(0xD0, 0xD8)):
            return pos
        pos += 1
    return len(data)


def jpeg_boundaries(data: bytes) -> list[tuple[str, int]]:
    cuts = [("soi", 2)]
    for index, (pos, marker) in enumerate(jpeg_segments(data)):
        if 2 < pos < len(data):
            cuts.append((f"{index}-{marker:02X}", pos))
    return cuts


def jpeg_sof(data: bytes, width: int, height: int) -> bytes:
    for pos, marker in jpeg_segments(data):
        if marker in SOF:
            field = pos + 5  # FF Cn, length (2), precision (1), then height, width
            return data[:field] + struct.pack(">HH", height, width) + data[field + 4 :]
    raise ValueError("no SOF")


def jpeg_app(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def jpeg_insert(data: bytes, segment: bytes) -> bytes:
    """``segment`` right after SOI (where APPn segments live)."""
    return data[:2] + segment + data[2:]


# --- GIF ---------------------------------------------------------------------------------


def gif_blocks(data: bytes) -> Iterator[tuple[str, int]]:
    """(name, offset) where each block starts: screen descriptor, tables, extensions, images."""
    pos = 13
    if data[10] & 0x80:
        yield "global-table", pos
        pos += 3 << ((data[10] & 7) + 1)
    index = 0
    while pos < len(data):
        kind = data[pos]
        yield f"{index}-{kind:02X}", pos
        index += 1
        if kind == 0x3B:
            return
        if kind == 0x21:
            pos = _sub_blocks(data, pos + 2)
        elif kind == 0x2C:
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            pos = _sub_blocks(data, pos + 1)  # LZW minimum code size, then the data
        else:
            return


def _sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos]:
        pos += 1 + data[pos]
    return pos + 1


def gif_boundaries(data: bytes) -> list[tuple[str, int]]:
    cuts = [("header", 6), ("screen", 13)]
    return cuts + [(name, pos) for name, pos in gif_blocks(data) if 13 < pos < len(data)]


def gif_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Screen and first image descriptor both patched."""
    out = bytearray(data)
    out[6:10] = struct.pack("<HH", width, height)
    for name, pos in gif_blocks(data):
        if name.endswith("-2C"):
            out[pos + 5 : pos + 9] = struct.pack("<HH", width, height)
            break
    return bytes(out)


# --- RIFF (WebP) -------------------------------------------------------------------------


def riff_chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    pos = 12
    while pos + 8 <= len(data):
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + size + (size & 1)
        yield pos, data[pos : pos + 4], min(end, len(data))
        pos = end


def riff_boundaries(data: bytes) -> list[tuple[str, int]]:
    cuts = [("riff-header", 12)]
    for index, (pos, kind, end) in enumerate(riff_chunks(data)):
        name = f"{index}-{kind.decode('latin-1').strip()}"
        cuts.append((f"{name}-header", pos + 8))
        if end < len(data):
            cuts.append((name, end))
    return cuts


def webp_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The canvas (VP8X) or the bitstream's own header (VP8, VP8L) patched."""
    out = bytearray(data)
    for pos, kind, _ in riff_chunks(data):
        body = pos + 8
        if kind == b"VP8X":
            out[body + 4 : body + 10] = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(
                3, "little"
            )
            return bytes(out)
        if kind == b"VP8 ":
            out[body + 6 : body + 10] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
            return bytes(out)
        if kind == b"VP8L":
            (bits,) = struct.unpack("<I", data[body + 1 : body + 5])
            bits = (bits & ~0x0FFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
            out[body + 1 : body + 5] = struct.pack("<I", bits)
            return bytes(out)
    raise ValueError("no VP8X, VP8 or VP8L chunk")


# --- TIFF --------------------------------------------------------------------------------


def tiff_entries(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(entry offset, tag, type) of every entry of the first IFD."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    for index in range(count):
        pos = ifd + 2 + 12 * index
        tag, kind = struct.unpack(order + "HH", data[pos : pos + 4])
        yield pos, tag, kind


def tiff_tag(data: bytes, tag: int, value: int) -> bytes:
    """The first IFD's ``tag`` set to one LONG ``value``."""
    order = "<" if data[:2] == b"II" else ">"
    for pos, found, _ in tiff_entries(data):
        if found == tag:
            entry = struct.pack(order + "HHII", tag, 4, 1, value)
            return data[:pos] + entry + data[pos + 12 :]
    raise ValueError(f"no tag {tag}")


def tiff_next_ifd(data: bytes, target: int | None = None) -> bytes:
    """The first IFD's next-IFD pointer aimed at ``target`` (default: itself, a loop)."""
    order = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    pos = ifd + 2 + 12 * count
    pointer = struct.pack(order + "I", ifd if target is None else target)
    return data[:pos] + pointer + data[pos + 4 :]


def tiff_planar(width: int, height: int, planes: list[bytes]) -> bytes:
    """An uncompressed RGB TIFF with one strip per plane (PlanarConfiguration 2)."""
    count = 10
    extra = 8 + 2 + 12 * count + 4
    bits_at, offsets_at, counts_at = extra, extra + 6, extra + 18
    pixels = counts_at + 12
    offsets = [pixels + i * len(planes[0]) for i in range(3)]
    entries = [
        (256, 4, 1, struct.pack("<I", width)),
        (257, 4, 1, struct.pack("<I", height)),
        (258, 3, 3, struct.pack("<I", bits_at)),
        (259, 3, 1, struct.pack("<HH", 1, 0)),
        (262, 3, 1, struct.pack("<HH", 2, 0)),
        (273, 4, 3, struct.pack("<I", offsets_at)),
        (277, 3, 1, struct.pack("<HH", 3, 0)),
        (278, 4, 1, struct.pack("<I", height)),
        (279, 4, 3, struct.pack("<I", counts_at)),
        (284, 3, 1, struct.pack("<HH", 2, 0)),
    ]
    ifd = struct.pack("<H", count)
    ifd += b"".join(struct.pack("<HHI", tag, kind, n) + value for tag, kind, n, value in entries)
    tail = struct.pack("<3H", 8, 8, 8) + struct.pack("<3I", *offsets)
    tail += struct.pack("<3I", *(len(p) for p in planes))
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 4 + tail + b"".join(planes)


# --- BMP and ISOBMFF (AVIF) --------------------------------------------------------------


def bmp_dimensions(data: bytes, width: int, height: int) -> bytes:
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


def bmp_boundaries(data: bytes) -> list[tuple[str, int]]:
    (pixels,) = struct.unpack("<I", data[10:14])
    cuts = [("file-header", 14), ("info-header", 14 + struct.unpack("<I", data[14:18])[0])]
    return [*cuts, ("pixels", pixels)] if pixels < len(data) else cuts


def isobmff_boundaries(data: bytes) -> list[tuple[str, int]]:
    cuts, pos, index = [], 0, 0
    while pos + 8 <= len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        cuts.append((f"{index}-{kind}-header", pos + 8))
        if size < 8 or pos + size >= len(data):
            break
        pos += size
        cuts.append((f"{index}-{kind}", pos))
        index += 1
    return cuts


def avif_dimensions(data: bytes, width: int, height: int) -> bytes:
    """Every ``ispe`` (image spatial extents) property patched."""
    out, pos = bytearray(data), data.find(b"ispe")
    while pos != -1:
        out[pos + 8 : pos + 16] = struct.pack(">II", width, height)
        pos = data.find(b"ispe", pos + 4)
    return bytes(out)
