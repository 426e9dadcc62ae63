"""Make the map's glyph PBFs (signed distance fields, the format MapLibre GL reads from a
style's ``glyphs`` URL) from a TrueType font, offline.

    python src/beffroi/web/static/vendor/glyphs/make_glyphs.py

Reads DejaVu Sans Bold as shipped by matplotlib (PyPI: ``mpl-data/fonts/ttf``) and writes
``DejaVuSans-Bold/{start}-{end}.pbf`` for the ranges below, as mapbox/node-fontnik does: a
24 px em, a 3 px buffer, distances over 8 px, the edge at 192 (TinySDF's radius and cutoff).
Each glyph is drawn 4 times larger with Pillow, the exact distance to its edge is computed
there (scipy's Euclidean distance transform) and sampled at the centre of each pixel.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage  # type: ignore[import-untyped]

NAME = "DejaVuSans-Bold"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
# Basic Latin + Latin-1; the spaces, dashes and quotes of General Punctuation (U+2000–U+2044:
# the narrow no-break space of French numbers)
RANGES = (0, 8192)
SIZE, BUFFER, RADIUS, CUTOFF, SCALE = 24, 3, 8.0, 0.25, 4
OUT = Path(__file__).parent / NAME


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number: int, value: int | bytes | str, signed: bool = False) -> bytes:
    if isinstance(value, int):
        if signed:
            value = (value << 1) ^ (value >> 63)  # zigzag (sint32)
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def glyph(font: ImageFont.FreeTypeFont, big: ImageFont.FreeTypeFont, code: int,
          cmap: dict[int, str]) -> bytes | None:
    char = chr(code)
    if code < 32 or 127 <= code < 160 or code > 0x2044 or code not in cmap:
        return None  # control characters, characters the font lacks
    advance = round(font.getlength(char))
    box = big.getbbox(char, anchor="ls")  # in big pixels, from the pen at the baseline
    if box[2] <= box[0] or box[3] <= box[1]:  # a space: metrics only, no bitmap
        return (field(1, code) + field(3, 0) + field(4, 0)
                + field(5, 0, True) + field(6, -26, True) + field(7, advance))
    left = int(np.floor(box[0] / SCALE))
    right = int(np.ceil(box[2] / SCALE))
    top = int(np.ceil(-box[1] / SCALE))  # above the baseline
    bottom = int(np.ceil(box[3] / SCALE))  # below it
    width, height = right - left, top + bottom
    w, h = width + 2 * BUFFER, height + 2 * BUFFER
    image = Image.new("L", (w * SCALE, h * SCALE), 0)
    ImageDraw.Draw(image).text(((BUFFER - left) * SCALE, (BUFFER + top) * SCALE), char,
                               font=big, fill=255, anchor="ls")
    inside = np.asarray(image) >= 128
    distance = (ndimage.distance_transform_edt(~inside)
                - ndimage.distance_transform_edt(inside)) / SCALE
    centre = distance[SCALE // 2::SCALE, SCALE // 2::SCALE][:h, :w]
    sdf = np.clip(np.round(255 - 255 * (centre / RADIUS + CUTOFF)), 0, 255).astype(np.uint8)
    return (field(1, code) + field(2, sdf.tobytes()) + field(3, width) + field(4, height)
            + field(5, left, True) + field(6, top - 27, True) + field(7, advance))


def main() -> None:
    basic = ImageFont.Layout.BASIC
    font = ImageFont.truetype(str(FONT), SIZE, layout_engine=basic)
    big = ImageFont.truetype(str(FONT), SIZE * SCALE, layout_engine=basic)
    cmap = TTFont(str(FONT)).getBestCmap()
    OUT.mkdir(exist_ok=True)
    for start in RANGES:
        end = start + 255
        glyphs = b"".join(field(3, g) for g in
                          (glyph(font, big, c, cmap) for c in range(start, end + 1)) if g)
        stack = field(1, NAME) + field(2, f"{start}-{end}") + glyphs
        (OUT / f"{start}-{end}.pbf").write_bytes(field(1, stack))
        print(f"{start}-{end}.pbf", len(glyphs))


if __name__ == "__main__":
    main()
