#!/usr/bin/env python3
"""Writes Tests/ImagingTests/Fixtures/png-kinds/*.png: small PNGs of every kind the fast greyscale
decoder handles (grey and grey + alpha, 8 and 16 bits, each row filter, runs of four Paeth rows,
widths of 1 to 17, several IDAT chunks, tRNS) and kinds it must hand to libpng (interlaced, palette,
RGB, 1-bit and 4-bit grey, a bad CRC, extra data after the image stream), so that the tests can
hold its pixels against libpng's. Standard library only (zlib, struct); not part of CI.

    python3 scripts/make_png_fixtures.py
"""
import os
import random
import struct
import zlib

FOLDER = os.path.join(os.path.dirname(__file__), "..", "Tests", "ImagingTests", "Fixtures", "png-kinds")


def chunk(kind, payload, crc=None):
    crc = zlib.crc32(kind + payload) if crc is None else crc
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc & 0xFFFFFFFF)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filtered(rows, pixel_bytes, filters):
    """Each row (bytes) with its filter applied, filter byte first."""
    out = bytearray()
    previous = bytes(len(rows[0]))
    for row, kind in zip(rows, filters):
        line = bytearray()
        for i, value in enumerate(row):
            a = row[i - pixel_bytes] if i >= pixel_bytes else 0
            b = previous[i]
            c = previous[i - pixel_bytes] if i >= pixel_bytes else 0
            predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][kind]
            line.append((value - predictor) & 0xFF)
        out += bytes([kind]) + line
        previous = row
    return bytes(out)


def samples(width, height, bit_depth, channels, rng):
    """Smooth gradients with noise, like a radiograph, and a few hard edges."""
    rows = []
    top = (1 << bit_depth) - 1
    for y in range(height):
        row = bytearray()
        for x in range(width):
            for channel in range(channels):
                value = int(top * (0.5 + 0.4 * ((x * 7 + y * 3 + channel * 50) % 97) / 97.0))
                value = max(0, min(top, value + rng.randint(-top // 20, top // 20)))
                if (x + y) % 11 == 0:
                    value = top - value
                row += value.to_bytes(bit_depth // 8, "big")
        rows.append(bytes(row))
    return rows


def png(width, height, bit_depth, colour_type, body, interlace=0, extra=b"", idat_pieces=1, crc_off=False):
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, interlace)
    stream = zlib.compress(body, 9) + extra
    pieces = [stream[i * len(stream) // idat_pieces : (i + 1) * len(stream) // idat_pieces] for i in range(idat_pieces)]
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra_chunks(colour_type, bit_depth)
    for index, piece in enumerate(pieces):
        out += chunk(b"IDAT", piece, crc=(zlib.crc32(b"IDAT" + piece) ^ 1) if crc_off and index == 0 else None)
    return out + chunk(b"IEND", b"")


def extra_chunks(colour_type, bit_depth):
    if colour_type == 3:
        return chunk(b"PLTE", bytes(range(0, 256 * 3)[: 16 * 3]))
    return chunk(b"tEXt", b"Comment\x00made by scripts/make_png_fixtures.py")


def main():
    rng = random.Random(7)
    os.makedirs(FOLDER, exist_ok=True)
    written = []

    def write(name, data):
        with open(os.path.join(FOLDER, name), "wb") as file:
            file.write(data)
        written.append(name)

    # What the fast path decodes: every width from 1 to 5 (the four-row Paeth path's edges), 17, 64.
    for colour_type, channels in [(0, 1), (4, 2)]:
        for bit_depth in (8, 16):
            pixel_bytes = channels * bit_depth // 8
            for width, height in [(1, 5), (2, 4), (3, 9), (4, 8), (5, 7), (17, 13), (64, 33)]:
                rows = samples(width, height, bit_depth, channels, rng)
                for pattern in ("each", "paeth", "mixed"):
                    if pattern == "each":
                        filters = [y % 5 for y in range(height)]
                    elif pattern == "paeth":
                        filters = [4] * height
                    else:
                        filters = [rng.choice([4, 4, 4, 0, 1, 2, 3]) for _ in range(height)]
                    body = filtered(rows, pixel_bytes, filters)
                    write(f"grey{channels}-{bit_depth}bit-{width}x{height}-{pattern}.png",
                          png(width, height, bit_depth, colour_type, body))
    rows = samples(40, 30, 8, 1, rng)
    body = filtered(rows, 1, [4] * 30)
    write("grey-8bit-three-idat.png", png(40, 30, 8, 0, body, idat_pieces=3))
    trns = png(40, 30, 8, 0, body)
    trns = trns[:33] + chunk(b"tRNS", b"\x00\x10") + trns[33:]
    write("grey-8bit-trns.png", trns)
    # What goes to libpng: it decodes these or refuses them, and the fast path must say the same.
    write("fallback-interlaced.png", png(40, 30, 8, 0, interlaced(rows), interlace=1))
    write("fallback-bad-crc.png", png(40, 30, 8, 0, body, crc_off=True))
    write("fallback-extra-data.png", png(40, 30, 8, 0, body, extra=b"\x00\x01\x02"))
    write("fallback-short-stream.png", png(40, 30, 8, 0, body[:-50]))
    write("fallback-bad-filter.png", png(40, 30, 8, 0, bytes([7]) + body[1:]))
    rgb = samples(20, 10, 8, 3, rng)
    write("fallback-rgb.png", png(20, 10, 8, 2, filtered(rgb, 3, [4] * 10)))
    indices = [bytes(value % 16 for value in row) for row in samples(20, 10, 8, 1, rng)]
    write("fallback-palette.png", png(20, 10, 8, 3, filtered(indices, 1, [1] * 10)))
    nibbles = [bytes(((row[2 * i] >> 4) << 4) | (row[2 * i + 1] >> 4) for i in range(10)) for row in samples(20, 10, 8, 1, rng)]
    write("fallback-4bit.png", png(20, 10, 4, 0, filtered(nibbles, 1, [2] * 10)))
    print(f"{len(written)} files in {os.path.normpath(FOLDER)}")


def interlaced(rows):
    """Adam7 passes of 8-bit grey rows, each pass's rows unfiltered (filter 0)."""
    height, width = len(rows), len(rows[0])
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = bytearray()
    for x0, y0, dx, dy in passes:
        for y in range(y0, height, dy):
            line = bytes(rows[y][x] for x in range(x0, width, dx))
            if line:
                out += b"\x00" + line
    return bytes(out)


if __name__ == "__main__":
    main()
