"""Hostile image files for the tests: crafted headers that crash Pillow's readers, and seeded mutations.

Each crafted file is checked in `test_decoding.py` to really crash plain
Pillow (`Image.open(...).load()` with every reader enabled), so that the
tests show digitrec surviving what Pillow alone does not.
"""

import io
import random
import struct

from PIL import Image, ImageDraw
from pillow_heif import register_heif_opener

register_heif_opener()  # HEIF seeds are written, as `digitrec.decoding` reads them


def dds_unknown_pixel_format():
    """A DirectDraw Surface header with no pixel-format flags: Pillow's DDS reader raises NotImplementedError."""
    flags, height, width = 0x1007, 28, 28  # DDSD_CAPS | HEIGHT | WIDTH | PIXELFORMAT
    return b"DDS " + struct.pack("<I", 124) + struct.pack("<3I", flags, height, width) + bytes(120 - 12)


def spider_image_in_stack():
    """A SPIDER header for image 1 of a stack without the stack: Pillow's reader raises AttributeError."""
    h = [0.0] * 27  # the header's floats 1..27, big-endian
    h[0], h[1], h[4] = 1, 28, 1  # slices, rows (height), iform 1 = 2-D image
    h[11], h[12] = 28, 1  # columns (width), header records
    h[21], h[22] = 108, 108  # header bytes = records x record length
    h[23], h[26] = 0, 1  # istack 0 with imgnumber 1: an image inside a stack that is not there
    return struct.pack(">27f", *h) + bytes(28 * 28 * 4)


def jpeg_with_bad_exif():
    """A JPEG whose EXIF holds FillOrder (a SHORT tag) as text and an Orientation:
    turning it upright makes Pillow re-encode the EXIF and raise `struct.error`."""
    image = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(image).line([(16, 12), (48, 12), (28, 54)], fill=0, width=5)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate
    exif[0x010F] = "maker"  # Make, ASCII
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    data = buf.getvalue()
    assert data.count(b"\x01\x0f\x00\x02") == 1
    return data.replace(b"\x01\x0f\x00\x02", b"\x01\x0a\x00\x02")  # Make -> FillOrder, still ASCII


CRAFTED = {"dds.png": dds_unknown_pixel_format, "spider.tif": spider_image_in_stack, "exif.jpg": jpeg_with_bad_exif}


def seed_images():
    """{name: bytes} of a small drawn 7 in every documented format, in several modes and codecs."""
    base = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(base).line([(16, 12), (48, 12), (28, 54)], fill=0, width=5)
    variants = [("png", "PNG", "L", {}), ("png", "PNG", "P", {}), ("png", "PNG", "RGBA", {}),
                ("jpg", "JPEG", "RGB", {}), ("jpg", "JPEG", "L", {"progressive": True}),
                ("bmp", "BMP", "RGB", {}), ("bmp", "BMP", "P", {}), ("gif", "GIF", "P", {}),
                ("tif", "TIFF", "L", {}), ("tif", "TIFF", "RGB", {"compression": "tiff_lzw"}),
                ("tif", "TIFF", "1", {"compression": "packbits"}), ("webp", "WEBP", "RGB", {}),
                ("webp", "WEBP", "RGBA", {"lossless": True}), ("heic", "HEIF", "RGB", {"quality": 80}),
                ("heic", "HEIF", "L", {"quality": 60})]
    out = {}
    for suffix, fmt, mode, options in variants:
        buf = io.BytesIO()
        base.convert(mode).save(buf, fmt, **options)
        out[f"{fmt.lower()}-{mode}-{'-'.join(map(str, options.values())) or 'plain'}.{suffix}"] = buf.getvalue()
    return out


def mutate(data, rng):
    """One random mutation of `data`: flipped bytes, a cut, inserted bytes, or a header field set to an extreme."""
    d = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            d[rng.randrange(len(d))] = rng.randrange(256)
    elif kind == 1:
        del d[rng.randrange(1, len(d)):]
    elif kind == 2:
        at = rng.randrange(len(d))
        d[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:  # sizes, offsets and counts live in the first bytes of every format
        at = rng.randrange(min(len(d), 64))
        d[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x00\x00\x10\x00"])
    return bytes(d)


def mutated_images(n, seed=0):
    """`n` seeded mutations of `seed_images()`, spread evenly over them: [(name, bytes)]."""
    rng = random.Random(seed)
    seeds = sorted(seed_images().items())
    return [(f"{i:03d}-{name}", mutate(data, rng)) for i, (name, data) in
            ((i, seeds[i % len(seeds)]) for i in range(n))]
