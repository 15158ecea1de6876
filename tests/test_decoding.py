"""Image decoding (`digitrec.decoding`): only the documented formats, one pixel limit, reduced-size
decoding, every decoder failure an `ImageError` naming the image, and the transparency and float
modes that used to come out wrong, checked directly and through the real server."""

import io
import struct

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps, features

import hostile
from digitrec.decoding import FORMATS, MAX_PIXELS, MAX_SIDE, load_image, to_grayscale
from digitrec.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from digitrec.preprocessing import normalize_hypotheses
from live_server import bundled_app, live_server


def _encode(image, fmt, **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def _boxes(data, start, end):
    """`[(type, offset, size)]` of the ISOBMFF boxes in `data[start:end]`."""
    out, i = [], start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        out.append((kind.decode("latin1"), i, size))
        i += size
    return out


def _box(data, start, end, kind):
    """`(offset, size)` of the first box of type `kind` in `data[start:end]`."""
    return next((offset, size) for k, offset, size in _boxes(data, start, end) if k == kind)


def _heif_turned(data, quarter_turns):
    """pillow-heif's one-image HEIF `data` with an `irot` property added (ISO/IEC 23008-12: turn `quarter_turns` x
    90 degrees anticlockwise on reading), as a phone stores a photo taken sideways; pillow-heif writes none. The
    boxes that hold it grow by 10 bytes, and the image data that `iloc` points to moves down by as much."""
    d = bytearray(data)
    meta = _box(d, 0, len(d), "meta")
    iprp, (iloc, _) = (_box(d, meta[0] + 12, sum(meta), k) for k in ("iprp", "iloc"))  # meta: version and flags
    (ipco, ipco_size), (ipma, ipma_size) = (_box(d, iprp[0] + 8, sum(iprp), k) for k in ("ipco", "ipma"))
    assert d[ipma + 8 : ipma + 16] == bytes(7) + b"\1" and d[iloc + 8 : iloc + 14] == bytes(4) + b"\x44\x40"
    index = len(_boxes(d, ipco + 8, ipco + ipco_size)) + 1  # the new property's, from 1
    d[ipma + 18] += 1  # the one item's associations (after version, flags, entry count and item ID) ...
    d[ipma + ipma_size : ipma + ipma_size] = bytes([0x80 | index])  # ... end the box: one more, essential
    d[ipco + ipco_size : ipco + ipco_size] = struct.pack(">I4sB", 9, b"irot", quarter_turns % 4)
    for offset, grown in ((ipco, 9), (ipma + 9, 1), (iprp[0], 10), (meta[0], 10)):
        struct.pack_into(">I", d, offset, struct.unpack(">I", d[offset : offset + 4])[0] + grown)
    item = iloc + 16
    for _ in range(struct.unpack(">H", d[iloc + 14 : iloc + 16])[0]):  # 4-byte base offsets: each item's moves
        struct.pack_into(">I", d, item + 4, struct.unpack(">I", d[item + 4 : item + 8])[0] + 10)
        item += 10 + 8 * struct.unpack(">H", d[item + 8 : item + 10])[0]
    return bytes(d)


def _seven(side=140, width=14, blur=4):
    """A dark 7 on white, `side` px, its edges softened over about `blur` px, uint8 (side, side)."""
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).line([(0.25 * side, 0.2 * side), (0.75 * side, 0.2 * side), (0.45 * side, 0.85 * side)],
                               fill=0, width=width, joint="curve")
    return np.asarray(image.filter(ImageFilter.GaussianBlur(blur)))


def palette_seven_white_key():
    """PNG bytes: a 7 in 16 palette colours whose only transparent colour is pure white (the paper);
    its blurred grey edges are opaque, so most visible pixels are lighter than mid-grey."""
    image = Image.fromarray(_seven()).quantize(colors=16)
    palette = image.getpalette()[:48]
    white = int(np.argmax([sum(palette[3 * i : 3 * i + 3]) for i in range(16)]))
    palette[3 * white : 3 * white + 3] = [255, 255, 255]
    image.putpalette(palette)
    return _encode(image, "PNG", transparency=white)


@pytest.fixture(scope="module")
def base_url():
    with live_server(bundled_app()) as url:
        yield url


# ---------------------------------------------------------------- formats and crafted files


@pytest.mark.parametrize("name", sorted(hostile.CRAFTED))
def test_crafted_files_crash_plain_pillow(name):
    """The fixtures are real: Pillow with every reader enabled fails on them with a non-I/O exception."""
    data = hostile.CRAFTED[name]()
    with pytest.raises(Exception) as e, Image.open(io.BytesIO(data)) as im:
        im.load()
        ImageOps.exif_transpose(im)
    assert not isinstance(e.value, (OSError, SyntaxError, ValueError)), repr(e.value)


@pytest.mark.parametrize("name, error, message", [
    ("dds.png", UnsupportedImageError, "not an image, or not one of the supported formats (PNG, JPEG"),
    ("spider.tif", UnsupportedImageError, "not an image, or not one of the supported formats"),
    ("exif.jpg", ImageError, "cannot decode the image (error: "),
])
def test_crafted_files_are_an_image_error_naming_the_file(tmp_path, name, error, message):
    path = tmp_path / name
    path.write_bytes(hostile.CRAFTED[name]())
    for source, shown in ((path, str(path)), (path.read_bytes(), "<bytes>")):
        with pytest.raises(error) as e:
            to_grayscale(source)
        assert str(e.value).startswith(f"{shown}: ") and message in str(e.value), str(e.value)


def test_every_documented_format_is_read_and_no_other():
    for name, data in hostile.seed_images().items():
        if "webp" in name and not features.check("webp"):
            continue
        assert load_image(data).size == (64, 64), name
    assert set(FORMATS) == {"PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "HEIF"}
    image = Image.new("L", (32, 32), 255)
    for fmt in ("PCX", "PPM", "ICO", "TGA", "DDS"):  # valid images that Pillow reads, in other formats
        data = _encode(image, fmt)
        assert Image.open(io.BytesIO(data)).format == fmt
        with pytest.raises(UnsupportedImageError, match="not one of the supported formats"):
            load_image(data, name=f"x.{fmt.lower()}")


# ---------------------------------------------------------------- one pixel limit, reduced-size decoding


def test_large_png_is_decoded_at_reduced_size():
    """A 4000x4000 1-bit PNG (a few KB) is box-filtered to 2000x2000 gray right after decoding."""
    image = Image.new("1", (4000, 4000), 1)
    ImageDraw.Draw(image).rectangle([1000, 1000, 2999, 1499], fill=0)
    data = _encode(image, "PNG")
    assert len(data) < 100_000
    out = load_image(data)
    assert out.mode == "L" and out.size == (2000, 2000) and max(out.size) <= MAX_SIDE
    assert out.info["source_size"] == (4000, 4000)  # so that boxes can be given in source pixels
    gray = np.asarray(out)
    assert gray[500:750, 500:1500].max() == 0 and gray[:400].min() == 255  # the black bar, where it was


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG", "PNG", "HEIF"])
def test_large_image_turned_upright_by_its_exif_orientation(fmt):
    """Orientation 6 (stored sideways, turn clockwise): the result is portrait, also when reduced. A HEIF photo is
    stored as an iPhone's camera stores one: the EXIF orientation and the container's own turn (`irot`, which
    libheif applies, and pillow-heif then sets the EXIF orientation to 1): turned once, not twice."""
    stored = Image.new("L", (2100, 1000), 255)
    ImageDraw.Draw(stored).rectangle([0, 0, 99, 99], fill=0)  # a mark in the stored image's top left
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(stored, fmt, exif=exif)
    out = load_image(_heif_turned(data, 3) if fmt == "HEIF" else data)  # 3 x 90 degrees anticlockwise
    assert out.size == (500, 1050)  # 1000x2100 upright, halved
    assert out.info["source_size"] == (1000, 2100)  # upright, before the reduction (JPEG's inside the decoder)
    assert np.asarray(out)[:20, -20:].max() < 128  # the mark is now top right


def test_pixel_limit_counts_the_pixels_to_decode():
    """One limit for every caller: a PNG just over it is refused; a JPEG of the same size is decoded
    at 1/4 scale inside the decoder, which is well under it."""
    assert MAX_PIXELS == 16_000_000
    size = (5000, 3201)  # 16,005,000 pixels
    png = _encode(Image.new("1", size, 1), "PNG")
    with pytest.raises(ImageTooLargeError) as e:
        load_image(png, name="big.png")
    assert str(e.value) == "big.png: image too large: 5000x3201 is 16.0 megapixels; the limit is 16,000,000 pixels"
    jpeg = _encode(Image.new("L", size, 255), "JPEG")
    out = load_image(jpeg)
    assert max(out.size) <= MAX_SIDE and out.size[0] / out.size[1] == pytest.approx(5000 / 3201, rel=0.01)


# ---------------------------------------------------------------- image modes


def test_mode_f_image_is_scaled_like_a_float_array():
    """A Pillow mode F image with values in [0, 255] is divided by 255, not clipped to black and white."""
    values = _seven().astype("float32")
    image = Image.fromarray(values, mode="F")
    assert image.mode == "F"
    gray = to_grayscale(image)
    np.testing.assert_allclose(gray, to_grayscale(values), atol=1e-6)
    np.testing.assert_allclose(gray, values / 255, atol=1e-6)
    assert gray[(gray > 0) & (gray < 1)].size / gray.size > 0.2  # the grey edges are still grey


def test_palette_png_with_a_white_colour_key_keeps_its_polarity():
    data = palette_seven_white_key()
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P" and "transparency" in im.info
        rgba = np.asarray(im.convert("RGBA"), dtype="float32") / 255
    visible = rgba[..., 3] > 0.5
    assert rgba[visible, 0].mean() > 0.5  # most opaque pixels are light: the old rule put this on black
    gray = to_grayscale(data)
    np.testing.assert_allclose(gray, _seven() / 255, atol=0.1)  # the picture as drawn, on its white paper
    assert gray[~visible].min() == 1.0


def test_transparent_canvas_still_goes_on_white():
    """A canvas export: black ink, anti-aliased in alpha, over transparent black."""
    ink = 255 - _seven()
    rgba = np.dstack([np.zeros_like(ink)] * 3 + [ink])
    gray = to_grayscale(Image.fromarray(rgba, "RGBA"))
    np.testing.assert_allclose(gray, _seven() / 255, atol=0.01)


# ---------------------------------------------------------------- through the server


def test_server_reads_the_tricky_modes_and_refuses_crafted_files(base_url, tmp_path):
    values = _seven().astype("float32")
    tiff = _encode(Image.fromarray(values, mode="F"), "TIFF")
    # "input" is the reading the classifier chose: this smooth 7 is read at 63 px and at its own size
    expected = bundled_app().state.recognizer.choose([normalize_hypotheses(values)])[0][0]
    with httpx.Client(base_url=base_url, timeout=60) as client:
        r = client.post("/api/predict", files={"file": ("float.tif", tiff)})
        assert r.status_code == 200 and r.json()["label"] == 7, r.text
        np.testing.assert_allclose(r.json()["input"], expected, atol=5e-4)
        r = client.post("/api/predict", files={"file": ("key.png", palette_seven_white_key())})
        assert r.status_code == 200 and r.json()["label"] == 7, r.text
        for name, status in (("dds.png", 415), ("spider.tif", 415), ("exif.jpg", 422)):
            r = client.post("/api/predict", files={"file": (name, hostile.CRAFTED[name]())})
            assert r.status_code == status and r.headers["content-type"] == "application/json", r.text
            assert r.json()["detail"].startswith(f"file '{name}': "), r.json()
        r = client.post("/api/predict", files={"file": ("big.png", _encode(Image.new("1", (5000, 3201), 1), "PNG"))})
        assert r.status_code == 413
        assert r.json()["detail"] == ("file 'big.png': image too large: 5000x3201 is 16.0 megapixels; "
                                      "the limit is 16,000,000 pixels")


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "bool"])
@pytest.mark.parametrize("shape", [(2, 10, 10), (10, 10, 5), (2, 3, 4, 5)])
def test_an_array_of_an_unsupported_shape_is_refused_by_its_shape_whatever_its_dtype(shape, dtype):
    # a stack of two uint8 images was refused as "unsupported array dtype uint8; use uint8, ..."
    with pytest.raises(ImageError, match=r"^unsupported image shape \(") as info:
        to_grayscale(np.zeros(shape, dtype))
    assert str(shape) in str(info.value)
