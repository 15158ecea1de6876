"""Input normalization: every format, mode, dtype, shape, polarity and size becomes MNIST-like.

The output must look like an MNIST digit: (28, 28) float32 in [0, 1], light
ink on black, the longest side of the digit about 20 px and the centre of
mass at (14, 14). Bad input (corrupt, blank, not an image, too large) must
raise `ImageError` with a message that says what and where.
"""

import base64
import contextlib
import io
import json
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, features
from scipy import ndimage

import synth
from digitrec import data, decoding, formlines, masks, pagelines, preprocessing, renderings
from digitrec.decoding import load_image, to_grayscale
from digitrec.errors import DigitrecError, ImageError
from digitrec.ink import NOISE_GATE, STROKE_WORK, denoised, divided_by_paper, extract_ink, noise_level, work_width
from digitrec.preprocessing import normalize

FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp",
           "HEIF": ".heic"}


# ---------------------------------------------------------------- helpers


def assert_mnist_like(out):
    """The properties every normalized image has."""
    assert isinstance(out, np.ndarray)
    assert out.shape == (28, 28)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.9, "the strongest ink should be (close to) full intensity"
    rows, cols = np.nonzero(out > 0.25)
    side = max(np.ptp(rows) + 1, np.ptp(cols) + 1)
    assert 19 <= side <= 21, f"longest side of the digit is {side} px, expected about 20"
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, f"centre of mass at ({cy:.2f}, {cx:.2f}), expected (14, 14)"


def similarity(a, b):
    """Pearson correlation of two normalized images (1 = identical up to brightness)."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def drawing(digit, scale=4, dark_on_light=True):
    """An MNIST digit enlarged like a scan or canvas drawing, uint8 (28*scale, 28*scale)."""
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.BICUBIC))
    return 255 - big if dark_on_light else big


@pytest.fixture(scope="module")
def digit(mnist_test):
    """A well-formed MNIST '3' (test index 18)."""
    images, labels = mnist_test
    assert labels[18] == 3
    return images[18]


@pytest.fixture(scope="module")
def reference(digit):
    return normalize(digit)


# ---------------------------------------------------------------- output properties


def test_mnist_digits_pass_through_unchanged(mnist_test):
    """MNIST digits are already normalized: `normalize` returns them as they are, in either polarity."""
    images, _ = mnist_test
    for d in images[::50]:
        assert np.allclose(normalize(d), d / 255.0, atol=1e-6)
        assert np.allclose(normalize(255 - d), d / 255.0, atol=1e-6)
        assert np.allclose(normalize(normalize(d)), d / 255.0, atol=1e-6)  # idempotent


def test_a_picture_enlarged_by_pixel_repetition_is_read_as_its_source(mnist_test):
    """A tiny scan enlarged by repeating pixels (a viewer's nearest-neighbour zoom, saved as PNG) is read as the
    scan itself: an MNIST digit shown 10x passes through as MNIST, and a 16x16 binary scan zoomed 8x reads as the
    scan. A smooth (bicubic) enlargement, or a repetition with one pixel changed, is read as the picture it is."""
    images, _ = mnist_test

    def zoom(a, k):
        return np.asarray(Image.fromarray(a).resize((a.shape[1] * k, a.shape[0] * k), Image.NEAREST))

    for d in images[:5]:
        assert np.array_equal(normalize(zoom(d, 10)), normalize(d))  # d / 255: MNIST's layout, as it is
        smooth = np.asarray(Image.fromarray(d).resize((280, 280), Image.BICUBIC))
        assert not np.array_equal(normalize(smooth), normalize(d))
    scan = np.asarray(Image.open(io.BytesIO(renderings.render("binary16", images[0], np.random.default_rng(1)))))
    assert np.array_equal(normalize(zoom(scan, 8)), normalize(scan))
    touched = zoom(scan, 8).copy()
    touched[40, 40] = 255 - touched[40, 40]
    assert preprocessing._source_resolution(to_grayscale(touched)).shape == touched.shape


def test_a_tiny_scan_enlarged_smoothly_is_read_at_its_own_scale(mnist_test):
    """A 16x16 binary scan enlarged 16 times (bicubic) has edges 16-30 px wide, which read as a shadow's: the
    photo readings took the paper gaps for strokes and most such digits were refused. It is read as a tiny picture
    (`_smooth_source`): MNIST test digits so rendered, 19 of 40 read right before, 40 now. A canvas and a photo
    hold finer detail and are read as they are."""
    from digitrec.inference import Recognizer

    images, labels = mnist_test
    rng = np.random.default_rng(2)
    scans = [np.asarray(Image.open(io.BytesIO(renderings.render("binary16", d, rng)))) for d in images[:40]]
    big = [cv2.resize(s, None, fx=16, fy=16, interpolation=cv2.INTER_CUBIC) for s in scans]
    assert sum(p.label == y for p, y in zip(Recognizer().predict(big), labels[:40])) >= 36
    for family in ("canvas", "photo"):
        gray = to_grayscale(renderings.render(family, images[0], rng))
        assert preprocessing._smooth_source(gray) is gray


def test_only_a_noisy_picture_is_median_filtered(mnist_test):
    """`ink.denoised`: scans, canvases and photos pass untouched (the wavelet estimate takes sharp strokes and printed
    lines for no noise), bilevel digits too at any size; a photo with Gaussian noise of 16 levels is filtered, and its
    noise falls under the gate."""
    images, _ = mnist_test
    rng = np.random.default_rng(3)
    for family in ("binary32", "canvas", "photo", "form", "grid", "marker"):
        gray = to_grayscale(renderings.render(family, images[0], rng))
        assert denoised(gray) is gray, family
    for side in (32, 64, 100):
        assert noise_level((cv2.resize(images[1], (side, side)) > 100).astype(np.float32)) == 0
    noisy = to_grayscale(synth.low_light(renderings.render("grid", images[0], rng), rng))
    out = denoised(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert noise_level(out) < NOISE_GATE < noise_level(noisy)


def test_whether_a_picture_is_a_smooth_enlargement_does_not_depend_on_its_contrast(mnist_test):
    """Resampling is linear: a picture at a third of its contrast (haze, faint ink) holds the same detail. A photo of
    faint pencil out of focus (a Gaussian blur of 2 px) or washed out passed for a tiny scan enlarged smoothly and
    was read at 63 px, its strokes a pixel wide: `scripts/family_validation.py 5 200 photo --blur 2`, 133 -> 188
    of 200 read right. Test digits so blurred are read; a smooth enlargement is reduced at any contrast."""
    from digitrec.inference import Recognizer

    images, labels = mnist_test
    rng = np.random.default_rng(3)
    photos = [cv2.GaussianBlur(np.asarray(Image.open(io.BytesIO(renderings.render("photo", d, rng)))), (0, 0), 2)
              for d in images[:20]]
    recognizer, right = Recognizer(), 0
    for photo, label in zip(photos, labels):
        with contextlib.suppress(ImageError):  # no ink found: a misread
            right += recognizer.predict(photo)[0].label == label
    assert right >= 17, right
    scan = np.asarray(Image.open(io.BytesIO(renderings.render("binary16", images[0], rng))))
    enlarged = to_grayscale(cv2.resize(scan, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC))
    for c in (1.0, 0.5, 0.2):
        for gray, reduced in ((to_grayscale(photos[0]), False), (enlarged, True)):
            faint = (0.8 * (1 - c) + c * gray).astype(np.float32)
            assert (preprocessing._smooth_source(faint) is not faint) == reduced, (c, reduced)


@pytest.mark.slow
def test_a_photo_far_out_of_focus_is_read_at_its_own_size_too(mnist_test):
    """A photo blurred by 4 px holds no finer detail than a tiny scan enlarged, and was read only at 63 px, where a
    digit a fifth of the picture tall is a dozen pixels: now read at its own size too, the classifier choosing.
    Validation digits (`scripts/family_validation.py 5 200 photo marker grid ruled form --blur 4`): 304 -> 220
    wrong of 1,000. These 90 test digits: 54 read right before, 64 after."""
    from digitrec.inference import Recognizer

    images, labels = mnist_test
    recognizer, right = Recognizer(), 0
    for family in ("photo", "grid", "ruled"):
        rng = np.random.default_rng(5)
        for digit, label in zip(images[:30], labels[:30]):
            photo = cv2.GaussianBlur(np.asarray(Image.open(io.BytesIO(renderings.render(family, digit, rng)))),
                                     (0, 0), 4)
            with contextlib.suppress(ImageError):  # no ink found: a misread
                right += recognizer.predict(photo)[0].label == label
    assert right >= 62, right


def test_moved_mnist_digits_keep_their_shape(mnist_test):
    """Moved 3 px off MNIST's centre, a digit goes through the whole pipeline and comes back nearly as it was."""
    images, _ = mnist_test
    rng = np.random.default_rng(0)
    idx = rng.choice(len(images), 100, replace=False)
    out = np.stack([normalize(np.roll(images[i], (3, -3), axis=(0, 1))) for i in idx])
    orig = images[idx].astype("float32") / 255.0
    mad = np.abs(out - orig).mean(axis=(1, 2))
    assert mad.mean() < 0.04, f"mean absolute difference {mad.mean():.4f}"
    assert np.median([similarity(a, b) for a, b in zip(out, orig)]) > 0.9  # 0.94 measured


def test_output_properties_on_mnist(mnist_test):
    images, _ = mnist_test
    for i in range(0, 10000, 1000):
        assert_mnist_like(normalize(images[i]))


def test_output_properties_on_thin_wide_and_tall_shapes():
    """A wide bar is scaled to 20 px wide, a tall thin bar to 20 px high."""
    wide = np.full((200, 300), 255, np.uint8)
    wide[90:110, 20:280] = 0
    tall = np.full((300, 200), 255, np.uint8)
    tall[20:280, 95:105] = 0
    for image in (wide, tall):
        assert_mnist_like(normalize(image))


# ---------------------------------------------------------------- input kinds, formats, modes, dtypes


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_file_format(tmp_path, digit, reference, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    path = tmp_path / f"digit{FORMATS[fmt]}"
    Image.fromarray(drawing(digit)).convert("RGB").save(path, fmt)
    out = normalize(path)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85
    assert np.allclose(normalize(str(path)), out)  # str and Path
    assert np.allclose(normalize(path.read_bytes()), out)  # encoded bytes


def _image_in_mode(mode, big):
    """`big` (uint8 dark ink on light) as a Pillow image of `mode`."""
    if mode in ("RGBA", "LA"):  # a canvas drawing: opaque ink on a transparent background
        ink = 255 - big
        color = np.zeros(big.shape + ((3,) if mode == "RGBA" else (1,)), np.uint8)
        return Image.fromarray(np.dstack([color, ink]), mode)
    if mode == "P":
        return Image.fromarray(np.dstack([big, big, big // 2])).convert("P", palette=Image.ADAPTIVE, colors=64)
    if mode == "I;16":
        return Image.fromarray(big.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(big.astype(np.int32) * 257)
    if mode == "F":
        return Image.fromarray(big.astype(np.float32) / 255.0)
    if mode == "1":
        return Image.fromarray(big).convert("1", dither=Image.Dither.NONE)
    return Image.fromarray(big).convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "I", "F", "1", "CMYK"])
def test_every_pil_mode(digit, reference, mode):
    image = _image_in_mode(mode, drawing(digit))
    assert image.mode == mode
    out = normalize(image)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85


@pytest.mark.parametrize("mode,fmt", [("L", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("P", "GIF"),
                                      ("I;16", "PNG"), ("I;16", "TIFF"), ("F", "TIFF"), ("1", "BMP"),
                                      ("CMYK", "JPEG"), ("RGBA", "WEBP"), ("L", "TIFF"), ("RGBA", "HEIF")])
def test_modes_saved_to_files(tmp_path, digit, reference, mode, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    path = tmp_path / f"digit{FORMATS[fmt]}"
    _image_in_mode(mode, drawing(digit)).save(path, fmt)
    out = normalize(path)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85


def test_transparent_gif(tmp_path, digit, reference):
    """A palette GIF whose background colour is transparent (as canvas exports write them)."""
    image = _image_in_mode("P", drawing(digit))
    background = image.getpixel((0, 0))
    path = tmp_path / "digit.gif"
    image.save(path, "GIF", transparency=background)
    assert load_image(path).info.get("transparency") is not None
    out = normalize(path)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85


def test_16_bit_png_with_full_range(tmp_path, digit, reference):
    path = tmp_path / "digit16.png"
    Image.fromarray(drawing(digit).astype(np.uint16) * 257).save(path)
    assert load_image(path).mode in ("I;16", "I")  # really 16-bit on disk
    assert similarity(normalize(path), reference) > 0.85


def _array(big, kind):
    f = big.astype("float32") / 255.0
    return {
        "uint8 (H, W)": big,
        "uint8 (H, W, 1)": big[..., None],
        "uint8 (H, W, 3)": np.dstack([big] * 3),
        "uint8 (H, W, 4)": np.dstack([np.zeros_like(big)] * 3 + [255 - big]),  # transparent background
        "uint8 (H, W, 4) opaque": np.dstack([big] * 3 + [np.full_like(big, 255)]),
        "uint16 (H, W)": big.astype(np.uint16) * 257,
        "float32 (H, W)": f,
        "float64 (H, W)": f.astype("float64"),
        "float32 (H, W, 3)": np.dstack([f] * 3),
        "float32 (H, W, 4)": np.dstack([f] * 3 + [np.ones_like(f)]),
        "float64 (H, W) in [0, 255]": big.astype("float64"),
        "bool (H, W)": big > 127,
    }[kind]


@pytest.mark.parametrize("kind", ["uint8 (H, W)", "uint8 (H, W, 1)", "uint8 (H, W, 3)", "uint8 (H, W, 4)",
                                  "uint8 (H, W, 4) opaque", "uint16 (H, W)", "float32 (H, W)", "float64 (H, W)",
                                  "float32 (H, W, 3)", "float32 (H, W, 4)", "float64 (H, W) in [0, 255]",
                                  "bool (H, W)"])
def test_every_array_dtype_and_shape(digit, reference, kind):
    array = _array(drawing(digit), kind)
    out = normalize(array)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85


def test_to_grayscale_returns_float32_in_unit_range(digit):
    big = drawing(digit)
    for kind in ("uint8 (H, W)", "uint8 (H, W, 3)", "uint16 (H, W)", "float64 (H, W)", "float32 (H, W, 4)"):
        gray = to_grayscale(_array(big, kind))
        assert gray.shape == big.shape and gray.dtype == np.float32
        assert gray.min() >= 0 and gray.max() <= 1
        assert np.abs(gray - big / 255.0).max() < 0.02, kind


def test_colored_ink_on_colored_paper(digit, reference):
    """Blue, red and green ink on cream, grey and blue-tinted paper."""
    cover = drawing(digit, dark_on_light=False).astype("float32")[..., None] / 255.0
    for ink, paper in [((20, 40, 160), (245, 240, 220)), ((150, 20, 20), (210, 210, 210)),
                       ((20, 110, 40), (225, 235, 250))]:
        rgb = np.array(paper) * (1 - cover) + np.array(ink) * cover
        out = normalize(rgb.astype(np.uint8))
        assert_mnist_like(out)
        assert similarity(out, reference) > 0.85, (ink, paper)


# ---------------------------------------------------------------- polarity, size, position


def test_both_polarities_give_the_same_result(digit):
    dark_on_light = normalize(drawing(digit, dark_on_light=True))
    light_on_dark = normalize(drawing(digit, dark_on_light=False))
    assert_mnist_like(dark_on_light)
    assert np.abs(dark_on_light - light_on_dark).mean() < 0.02


def test_light_ink_on_dark_board_photo(digit, reference):
    """Chalk-like light ink on a dark, unevenly lit board."""
    cover = drawing(digit, scale=8, dark_on_light=False).astype("float32") / 255.0
    h, w = cover.shape
    board = 0.15 + 0.1 * np.linspace(0, 1, w)[None, :] + 0.02 * np.random.default_rng(0).standard_normal((h, w))
    image = np.clip(board + 0.7 * cover, 0, 1).astype("float32")
    out = normalize(image)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.75  # chalk enlarged 8x (bicubic) is bolder than the MNIST digit


def test_tiny_16x16(digit, reference):
    tiny = np.asarray(Image.fromarray(255 - digit).resize((16, 16), Image.LANCZOS))
    out = normalize(tiny)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.75


def test_large_3000x4000_photo(digit, reference):
    """A 12-megapixel phone-sized picture (portrait, 3000 wide x 4000 high)."""
    rng = np.random.default_rng(1)
    cover = np.zeros((4000, 3000), "float32")
    pen = renderings.pen(digit, 1200, 70, rng)
    cover[1300 : 1300 + pen.shape[0], 800 : 800 + pen.shape[1]] = pen
    paper = 0.9 - 0.1 * np.linspace(0, 1, 4000, dtype="float32")[:, None]
    gray = paper * (1 - 0.9 * cover)
    image = (np.clip(gray, 0, 1) * 255).astype(np.uint8)
    image = np.dstack([image, image, (image * 0.95).astype(np.uint8)])
    assert image.shape == (4000, 3000, 3)
    out = normalize(image)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.8


def test_thick_strokes_in_a_big_picture_are_cut_out_whole(mnist_test):
    """Digits in a thick marker (strokes 50 px) on 1200x1600 pages: the search at 512 px separates thick ink on a
    copy where strokes are `STROKE_WORK` px wide, and the region cut from the full-resolution page must be mapped
    back from that copy's scale, not the 512 px one (from which it was a corner of the digit: no ink found)."""
    images, _ = mnist_test
    rng = np.random.default_rng(0)
    for i in range(4):
        cover = renderings.pen(images[i], 600, 50, rng)
        page = np.pad(cover, ((400, 800 - cover.shape[0]), (700, 900 - cover.shape[1])))  # 1200x1600
        photo = np.round(255 * (0.85 - 0.75 * page)).astype(np.uint8)
        clean = np.round(255 * (0.85 - 0.75 * np.pad(cover, 20))).astype(np.uint8)
        assert similarity(normalize(photo), normalize(clean)) > 0.75, i  # a pixel's shift of a thin 0: 0.83


def test_a_thin_box_beside_thick_strokes_stays_wide_enough_to_be_dropped(mnist_test):
    """A test 4 in pencil, strokes 16-50 px, in a printed box whose lines are 4-8 px (`synth.pencil_in_a_box`
    enlarged 4 times: a form scanned at a high resolution). The strokes are separated from the paper on a copy
    shrunk until they are `STROKE_WORK` px wide, where the box's lines, under a pixel, faded in pieces: two were kept
    beside the digit. The copy keeps the thinnest reading of the ink's polarity (the box's lines) 2 px wide."""
    images, _ = mnist_test
    picture = cv2.resize(synth.pencil_in_a_box(images[20], np.random.default_rng(20), (0.7, 1.0)), None, fx=4, fy=4,
                         interpolation=cv2.INTER_CUBIC)
    assert work_width(40.0) == STROKE_WORK and work_width(40.0, 5.0) == 16.0
    _, mask = extract_ink(picture.astype(np.float32) / 255)
    assert ndimage.label(mask)[1] == 1  # the digit alone (the box's pieces: three components)


@pytest.mark.slow  # six 12-megapixel photos
def test_a_thin_small_digit_in_a_big_shadowed_photo_is_found(mnist_test):
    """A 1 110 px tall drawn with a 5 px pen in a 3000x4000 photo with a shadow band: its strokes are under a pixel
    wide at the first search scale, where the shadow's edge won and the digit was cut away ("no ink found" in all
    six before); the photo is now searched again at twice that scale."""
    images, _ = mnist_test
    for i in (2, 5):  # two 1s: short strokes, little ink
        for seed in (0, 2, 3):
            rng = np.random.default_rng(seed)
            cover = renderings.pen(images[i], 110, 5, rng)
            page = np.zeros((3000, 4000), "float32")
            page[1400 : 1400 + cover.shape[0], 2000 : 2000 + cover.shape[1]] = cover
            centre = (1400 + cover.shape[0] / 2, 2000 + cover.shape[1] / 2)
            photo = renderings.photo(page, rng, 0.7, 85, shadow=True, centre=centre)
            clean = np.round(255 * (1 - 0.7 * np.pad(cover, 20))).astype(np.uint8)
            assert similarity(normalize(photo), normalize(clean)) > 0.8, (i, seed)


def test_a_blank_big_photo_with_a_soft_shadow_is_no_ink_not_a_crash():
    """A 1300x1100 photo of blank paper, half of it in a soft shadow: no ink at the first search scale, so it is
    searched again at 1024 px, where the paper's median filter (a third of the shorter side) was 289 px wide and
    OpenCV's uint8 median failed on the two flat levels (its 16-bit window histograms overflow) with cv2.error."""
    x = np.broadcast_to(np.arange(1100), (1300, 1100))
    page = cv2.GaussianBlur(np.where(x < 500, 120, 200).astype(np.float32), (0, 0), 40)
    with pytest.raises(ImageError, match="no ink found"):
        normalize(np.round(page).astype(np.uint8))


def test_digits_enlarged_tenfold_keep_their_ink(mnist_test):
    """MNIST digits enlarged bicubically to 280x280 (a small picture enlarged by software): edges as soft as a
    shadow's penumbra (sharpness under 0.1) around strokes 30-50 px wide. A rule that took such a soft region for
    a shadow on blank paper once found no ink in test digit 25."""
    images, _ = mnist_test
    for i in range(64):
        big = np.asarray(Image.fromarray(images[i]).resize((280, 280), Image.BICUBIC))
        assert normalize(255 - big).max() > 0.5, i


def test_a_drawing_on_paper_of_one_level_normalizes_as_it_would_with_grain(mnist_dir):
    """A drawing's paper is one level (`_flat_paper`), so its strokes are read without looking for thinner ones
    beside a shade; grain or a shade on the same page make it a photo again, read the full way. Both ways agree."""
    from digitrec import bench_scale, ink

    rng = np.random.default_rng(0)
    for body in bench_scale.canvases(mnist_dir, n=6):
        url = json.loads(body)["image"]
        page = to_grayscale(load_image(base64.b64decode(url.split(",", 1)[1]), name="canvas"))
        grain = np.round(np.clip(page + rng.normal(0, 2 / 255, page.shape), 0, 1) * 255).astype(np.float32) / 255
        shade = page * np.linspace(0.75, 1.0, page.shape[1], dtype=np.float32)
        assert ink._flat_paper(page, page < 0.5)
        assert not ink._flat_paper(grain, grain < 0.5)
        assert not ink._flat_paper(shade, shade < 0.5)
        assert similarity(normalize(page), normalize(grain)) > 0.95


def test_small_digit_off_centre_in_a_big_canvas(digit, reference):
    canvas = np.full((1500, 2000), 250, np.uint8)
    small = drawing(digit, scale=4)  # 112 px
    canvas[80:192, 1800:1912] = small  # top right corner
    out = normalize(canvas)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.9
    # the position in the canvas does not matter
    other = np.full((1500, 2000), 250, np.uint8)
    other[1300:1412, 60:172] = small
    moved = normalize(other)
    # Sub-pixel sampling differs with the position, and can flip the stroke-width step (a 1-px disk) of
    # `_mnist_layout`: 0.86 here, 0.96-0.99 at other positions.
    assert similarity(moved, out) > 0.85


def pencil_under_a_hard_shadow(digit, offset, penumbra, angle, shade=0.5):
    """A thin pencil digit (3 px pen, 160 px tall) on 400x300 paper; the half-plane beyond a straight line
    `offset` px from the centre at `angle` degrees is in a shadow with a `penumbra` px wide edge (float32)."""
    cover = renderings.pen(digit, 160, 3.0, np.random.default_rng(0))
    h, w = 300, 400
    y, x = np.mgrid[:h, :w]
    d = (x - w / 2) * np.cos(np.radians(angle)) + (y - h / 2) * np.sin(np.radians(angle)) - offset
    light = 1 - (1 - shade) * np.clip(0.5 + d / penumbra, 0, 1)
    ink = np.zeros((h, w), "float32")
    top, left = (h - cover.shape[0]) // 2, (w - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    noise = 0.01 * np.random.default_rng(1).standard_normal((h, w))
    return np.clip(0.8 * (1 - 0.6 * ink) * light + noise, 0, 1).astype("float32")


def test_a_hard_shadow_across_the_page_is_not_ink(digit):
    """A harsh shadow (a sharp edge, as a phone or a hand casts it in direct light) across half the page: the
    thin strokes are the ink, not the lit paper or the shadow, which have a pen's sharp edges too but are
    regions far wider than any pen (all 12 were read as the paper, similarity 0.11-0.45, before)."""
    reference = normalize(pencil_under_a_hard_shadow(digit, 0, 3, 35, shade=1.0))  # no shadow
    scores = [similarity(normalize(pencil_under_a_hard_shadow(digit, offset, penumbra, angle)), reference)
              for offset in (-30, 0, 30) for penumbra in (3, 6) for angle in (35, 120)]
    assert sum(s > 0.8 for s in scores) >= 9, np.round(scores, 2)  # 10 of 12 here


def test_a_four_drawn_with_straight_strokes_is_not_a_printed_box():
    """A 4's stem and bar enclose its diagonal as a printed box encloses a digit, but they are strokes (the web
    page's 4 was once read as its diagonal alone, a 1)."""
    canvas = np.full((280, 280), 255, np.uint8)
    points = np.array([(168, 238), (168, 42), (70, 174), (218, 174)], np.int32)
    cv2.polylines(canvas, [points], False, 0, 18, cv2.LINE_AA)
    ink = normalize(canvas) > 0.5
    assert ink.sum(axis=0).max() >= 14, "the stem is gone"
    assert ink.sum(axis=1).max() >= 12, "the bar is gone"


def test_form_lines_are_found_alike_within_the_inks_box_and_on_the_whole_image(mnist_test):
    """`formlines.drop_form_lines` works on the mask's bounding box with a margin of a line's length: it answers as the
    search on the whole image does (`_drop_lines_in` given the whole mask), here for digits in printed boxes or on
    ruled lines, placed in a big page, against its edges and alone in their own frame, at three stroke widths."""
    images, _ = mnist_test
    checked = removed = 0
    for i in range(12):
        gray = to_grayscale(renderings.render("form", images[i], np.random.default_rng(i)))
        page = np.ones((400, 500), np.float32)
        h, w = gray.shape
        for top, left in ((150, 200), (0, 0), (400 - h, 500 - w)):
            framed = page.copy()
            framed[top : top + h, left : left + w] = gray
            for picture in (framed, gray):
                strength = 1 - picture
                mask = strength > 0.5
                for width in (2.0, 3.5, 6.0):
                    expected = formlines._drop_lines_in(mask, width, strength, mask.shape)
                    got = formlines.drop_form_lines(mask, width, strength)
                    assert np.array_equal(got, expected), (i, top, left, width)
                    assert (got is mask) == (expected is mask)
                    checked, removed = checked + 1, removed + (got is not mask)
    assert removed >= checked // 4, "too few masks lost a line to test the window"


def test_a_box_is_dropped_around_a_digit_of_straight_strokes_despite_a_speck_outside_it():
    """A thick 1 of straight strokes (its stem and base all in straight runs of a line's length) in a printed box,
    and a speck in the picture's corner (as a hard shadow's edge leaves at the border): the box frames the rest of
    the ink once specks are judged against all of it (the digit too), not against what the straight runs leave (no
    more than the speck itself, which kept the box)."""
    mask = np.zeros((100, 100), bool)
    mask[20:80, 20:22] = mask[20:80, 78:80] = mask[20:22, 20:80] = mask[78:80, 20:80] = True  # the box, 2 px lines
    mask[30:70, 48:54] = mask[64:70, 38:64] = True  # the 1: a stem and a base, 6 px thick
    mask[0:2, 10:13] = True  # the speck
    box = np.zeros_like(mask)
    box[20:80, 20:80] = True
    box[22:78, 22:78] = False
    kept = formlines.drop_form_lines(mask, 1.9, mask.astype(np.float32))
    assert not (kept & box).any(), "the box stayed"
    assert np.array_equal(kept & ~box, mask & ~box), "ink beside the box was lost"


def test_a_one_standing_on_a_ruled_line_keeps_its_stem_and_the_line_goes():
    """An upright 1 whose foot touches a ruled line across the picture: its stem is a vertical straight run of a
    line's length, joined to the line, and the two were one group of runs; the group crossed the picture beyond the
    rest of the ink (nothing), so it went whole, and with nothing left the line stayed as ink. A ruled line is
    the runs that cross the picture along their own direction (`formlines._crossing`)."""
    mask = np.zeros((100, 100), bool)
    mask[70:75] = True  # the line, 5 px thick
    mask[20:70, 48:53] = True  # the stem, 5 px wide, 50 tall
    kept = formlines.drop_form_lines(mask, 5.0, mask.astype(np.float32))
    assert kept[20:70, 48:53].all(), "the stem was lost"
    assert not kept[70:75, :40].any() and not kept[70:75, 60:].any(), "the line stayed"


@pytest.mark.parametrize("angle, half_width", [(-1.5, 18), (-1.0, 18), (1.0, 18), (1.5, 18), (0.0, 10)])
def test_a_thin_box_turned_or_narrow_around_a_bold_digit_is_dropped(angle, half_width):
    """A box printed in 1 px lines around a bold slanted 1 apart from it, turned a degree or so with its form, or
    level but narrow: its level sides are runs shorter than a form's line of the 1's width (`_line_length`: six
    stroke widths, 36 px), or the thresholded print broke into pieces, so the line openings kept it and the 1 was
    read in its box (a "0", or not a digit). The box is the pieces along the outline of the ink's convex hull
    (`formlines.drop_printed_boxes`). Neither a 5's detached flag, which lies along its hull's top, nor an empty
    box with a speck in it is such a box."""
    page = np.zeros((110, 110), np.uint8)
    cv2.rectangle(page, (55 - half_width, 15), (55 + half_width, 95), 170, 1)
    page = cv2.warpAffine(page, cv2.getRotationMatrix2D((55, 55), angle, 1), (110, 110))
    box = page > 85
    cv2.line(page, (52, 25), (58, 85), 220, 6)
    mask = page > 85
    kept = formlines.drop_turned_form_lines(mask, 6.0, page.astype(np.float32) / 255)
    assert np.array_equal(kept, mask & ~box | (page > 200))
    five = np.zeros((60, 40), bool)
    five[10:14, 12:36] = True  # the flag, apart
    five[16:30, 10:14] = five[28:32, 10:30] = five[30:48, 28:32] = five[46:50, 8:30] = True
    assert formlines.drop_printed_boxes(five, five.astype(np.float32)) is five
    empty = box.copy()
    empty[54:57, 54:57] = True
    assert formlines.drop_printed_boxes(empty, empty.astype(np.float32)) is empty


@pytest.mark.parametrize("angle", [-1.5, -1.0, 1.5])
def test_a_bold_box_turned_around_a_zero_touching_it_leaves_no_slivers(angle):
    """A box of 4 px lines turned a degree or so with its form, framing a 0 that touches its top and bottom lines:
    the line openings take each line's straight core and leave slivers along its edges and corners, which were
    kept (and a sliver over the 0, bridged to it across the removed line, came back as a bar: a 0 "not a digit").
    Pieces of ink that lie wholly within 2 px of the box's removed lines are its slivers
    (`formlines._frame_lines`); the 0's arcs along the lines join the rest of it, and stay."""
    page = np.zeros((110, 110), np.uint8)
    cv2.rectangle(page, (34, 24), (76, 86), 170, 4)
    page = cv2.warpAffine(page, cv2.getRotationMatrix2D((55, 55), angle, 1), (110, 110))
    zero = np.zeros_like(page)
    cv2.ellipse(zero, (55, 55), (12, 29), 10, 0, 360, 220, 6)
    assert (zero & page).any(), "the 0 does not touch the box"
    page = np.maximum(page, zero)
    kept = formlines.drop_turned_form_lines(page > 85, 6.0, page.astype(np.float32) / 255)
    near = cv2.dilate((zero > 85).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert not (kept & ~near).any(), "pieces of the box stayed"
    assert np.count_nonzero(kept & (zero > 85)) >= 0.8 * np.count_nonzero(zero > 85), "the 0 lost its strokes"


@pytest.mark.parametrize("lean", [-8.0, 6.0, 8.0])
def test_a_box_photographed_at_an_angle_around_a_digit_apart_from_it_is_dropped(lean):
    """A thin box whose sides lean (a form photographed at an angle: a parallelogram) around a bold 2-like digit
    apart from it, the box as wide as the picture: its level lines cross the picture and went as ruled lines, and
    its leaning sides stayed as two strokes beside the digit. The box is the pieces along the outline of the ink's
    convex hull (`formlines.drop_printed_boxes`; along its minimum-area rectangle, only a box with square corners
    was)."""
    page = np.zeros((110, 110), np.uint8)
    shift = np.tan(np.radians(lean)) * 80
    corners = np.array([(8 + shift / 2, 15), (102 + shift / 2, 15), (102 - shift / 2, 95), (8 - shift / 2, 95)])
    cv2.polylines(page, [np.round(corners).astype(np.int32)], True, 170, 2)
    box = page > 85
    cv2.polylines(page, [np.array([(40, 35), (60, 28), (70, 45), (42, 78), (72, 78)], np.int32)], False, 220, 7)
    mask = page > 85
    kept = formlines.drop_turned_form_lines(mask, 7.0, page.astype(np.float32) / 255)
    assert np.array_equal(kept, mask & ~box | (page > 200))


def test_the_dividers_of_a_row_of_faint_boxes_go_with_the_boxes():
    """A row of three cells printed in 1 px lines, faint enough that the threshold broke each divider from the
    frame, with a bold digit clear of the lines in each: the frame goes as the pieces along the ink's convex hull
    (`formlines.drop_printed_boxes`), and the dividers, straight pieces as thin as its lines and thinner than the
    handwriting, go with it (they stayed and were read as 1s: "368" read "31618"). A 1 drawn with a pen as thin as
    a bold box's lines are not is no divider."""
    page = np.zeros((80, 250), np.uint8)
    cv2.rectangle(page, (10, 10), (240, 70), 170, 1)
    for x in (87, 164):
        page[13:68, x] = 170  # the dividers, 2 px short of the frame at each end
    lines = page > 85
    for x in (30, 105, 185):
        cv2.ellipse(page, (x + 18, 40), (12, 20), 0, 0, 360, 220, 6)  # a bold 0 in each cell
    mask = page > 85
    kept = formlines.drop_turned_form_lines(mask, 6.0, page.astype(np.float32) / 255)
    assert np.array_equal(kept, mask & ~lines), ((kept & lines).sum(), (mask & ~lines & ~kept).sum())
    bold = np.zeros((110, 110), np.uint8)
    cv2.rectangle(bold, (25, 15), (85, 95), 170, 4)
    cv2.line(bold, (55, 30), (57, 80), 220, 1)
    one = bold > 200
    kept = formlines.drop_turned_form_lines(bold > 85, 4.0, bold.astype(np.float32) / 255)
    assert np.array_equal(kept, one)


def test_strokes_touching_a_row_of_boxes_stay_when_the_boxes_go():
    """Digits written in a row of printed boxes, touching them (as people write in an ID's cells): a 1 whose stem
    rises from the bottom line, a 7 whose bar hangs from the top line and a 4 leaning on a divider. Their straight
    strokes and the boxes were one group of runs, which framed the rest of the ink and went whole, strokes too
    ("726236" read "26"). Only the rows and columns whose runs cross the group are the box's lines
    (`formlines._frame_lines`)."""
    mask = np.zeros((80, 250), bool)
    mask[10:13, 10:240] = mask[67:70, 10:240] = True  # the top and bottom lines, 3 px
    for x in (10, 85, 160, 237):
        mask[10:70, x : x + 3] = True  # the sides and dividers
    one = np.zeros_like(mask)
    one[25:67, 45:49] = True  # a 1 standing on the bottom line
    seven = np.zeros_like(mask)
    seven[13:17, 100:140] = seven[17:60, 132:136] = True  # a 7's bar under the top line, and its stem
    four = np.zeros_like(mask)
    four[20:50, 188:192] = four[46:50, 163:215] = four[20:64, 205:209] = True  # a 4 whose bar reaches the divider
    mask |= one | seven | four
    kept = formlines.drop_form_lines(mask, 4.0, mask.astype(np.float32))
    for name, digit in (("1", one), ("7", seven), ("4", four)):
        assert np.count_nonzero(kept & digit) >= 0.9 * np.count_nonzero(digit), f"the {name} lost its strokes"
    assert not kept[:, 237:240].any() and not kept[5:10].any() and not kept[68:].any(), "a line stayed"


def test_a_bar_joined_to_its_boxs_line_along_half_the_box_stays():
    """A bold 7 in its box, its bar joined to the top line along half the box's width (a bar written close to the
    line, which a thick pen or a blur closes): the rows where the runs cross a quarter of the group, beside a line's
    rows, were taken for its thinner edges however far they reached, and the bar went with the line (a 7 read as
    1: validation digits cut on a cell's four lines). A line's edges, and its drift where a turned form was levelled
    only nearly (`MIN_SKEW` across the box), reach 2 px and that drift beyond its rows (`formlines._frame_lines`)."""
    mask = np.zeros((80, 70), bool)
    mask[10:13, 5:65] = mask[67:70, 5:65] = mask[10:70, 5:8] = mask[10:70, 62:65] = True  # the box, 3 px lines
    seven = np.zeros_like(mask)
    seven[13:21, 20:55] = seven[21:60, 47:51] = True  # the bar, 8 px, joined to the top line, and the stem
    kept = formlines.drop_form_lines(mask | seven, 4.0, (mask | seven).astype(np.float32))
    assert np.count_nonzero(kept & seven) >= 0.8 * np.count_nonzero(seven), "the 7 lost its bar"
    assert not (kept & mask).any(), "a line stayed"


def test_the_darkest_of_three_levels_is_strokes_or_nothing():
    """`ink._darkest_level`: dark strokes on paper half in shadow (three levels) give their width; a picture of two
    levels has no third class (it raised ValueError out of `normalize` for a binary non-digit), and a darkest class
    that is a region, not strokes, is no reading."""
    from digitrec.ink import _darkest_level

    paper = np.full((90, 90), 0.9, np.float32)
    paper[:, 45:] = 0.5  # the shaded half
    strokes = paper.copy()
    strokes[20:70, 30:35] = strokes[20:25, 30:60] = 0.1  # a 7-like pair of strokes 5 px wide, across the shadow
    (dark, width), = _darkest_level(strokes)
    assert dark and 3.5 <= width <= 6.5
    assert _darkest_level(np.where(paper > 0.7, 1.0, 0.0).astype(np.float32)) == []
    region = paper.copy()
    region[10:80, 10:80] = 0.1  # a dark square, not strokes
    assert _darkest_level(region) == []


def test_the_darkest_class_is_a_pens_ink_not_a_band_crossing_the_picture():
    """`ink.darkest_class` on a shadow band's strength (0.35) joined to darker ink (0.6): a pen's stroke that the
    band crosses is its darker class (ink half again as dark as the shade; twice as dark was asked until
    2026-12-06, and under a hard shadow a marker's ink in the band's light was refused); a darker band that
    crosses the whole picture (a hard shadow over a lighter soft one, or over a form's printed line) is none on a
    page, but is in a tiny scan enlarged, whose ink may reach across its frame."""
    from digitrec.ink import darkest_class

    def strength(rows):
        ink = np.zeros((120, 120), np.float32)
        ink[30:39, :] = 0.35  # the band, across the picture
        ink[rows, 50:59] = 0.6
        return ink, ink > 0

    stroke = darkest_class(*strength(slice(10, 100)))
    assert stroke is not None and stroke[10:100, 50:59].all() and not stroke[30:39, :40].any()
    crossing = strength(slice(None))
    assert darkest_class(*crossing) is None
    assert darkest_class(*crossing, page=False) is not None


def test_a_ring_whose_pen_skipped_twice_is_normalized_closed():
    """A 0 drawn 10 px wide whose ballpoint skipped at two places (gaps of about 1.5 and 2.5 stroke widths): its
    arcs point at each other across each gap and are joined, so the normalized 0 is one closed ring. Before, the
    arcs stayed apart (two pieces, the hole open to the outside)."""
    canvas = np.full((300, 300), 255, np.uint8)
    cv2.ellipse(canvas, (150, 150), (40, 60), 0, 10, 166, 0, 10, cv2.LINE_AA)
    cv2.ellipse(canvas, (150, 150), (40, 60), 0, 190, 337, 0, 10, cv2.LINE_AA)
    ink = normalize(canvas) > 0.3
    assert ndimage.label(ink, np.ones((3, 3)))[1] == 1, "the gaps are open"
    assert ndimage.label(~ink)[1] == 2, "the ring does not enclose its hole"


def test_broken_strokes_are_joined_nearest_pairs_first_each_end_once():
    """`_joins` (tested in bulk with a k-d tree) against its definition checked pair by pair: 600 random stroke ends
    of 40 pieces, as a blotchy marker digit's skeleton has them (one such page took 52 s when every pair was tested
    in Python, about 0.2 s now)."""
    from digitrec.preprocessing import JOIN_ANGLE, _joins

    rng = np.random.default_rng(0)
    points = rng.integers(0, 300, (600, 2))
    directions, pieces = rng.normal(size=(600, 2)), rng.integers(0, 40, 600)

    def points_at(p, u, q):
        return (q - p) @ u >= np.cos(np.radians(JOIN_ANGLE)) * np.hypot(*(q - p)) * np.hypot(*u)

    pairs = sorted((float(np.hypot(*(points[j] - points[i]))), i, j) for i in range(600) for j in range(i)
                   if pieces[i] != pieces[j] and points_at(points[i], directions[i], points[j])
                   and points_at(points[j], directions[j], points[i]))
    used, expected = set(), []
    for gap, i, j in pairs:
        if gap <= 20.0 and not {i, j} & used:
            used |= {i, j}
            expected.append((tuple(points[i]), tuple(points[j])))
    joined = [(tuple(p), tuple(q)) for p, q in _joins(points, directions, pieces, 20.0)]
    assert joined == expected and len(expected) > 20


def test_a_dot_beyond_a_strokes_end_stays_apart():
    """A dot 2.5 stroke widths beyond the end of a bar, where the bar points: a dot has no stroke direction, so it
    is no broken stroke, and it is not joined (nor is a detached 5's flag whose end points away)."""
    canvas = np.full((300, 300), 255, np.uint8)
    cv2.line(canvas, (150, 60), (150, 200), 0, 10)
    cv2.circle(canvas, (150, 240), 10, 0, -1)  # a fifth of the bar's ink: no speck
    assert ndimage.label(normalize(canvas) > 0.3, np.ones((3, 3)))[1] == 2


@pytest.mark.parametrize("width", [4.0, 6.0])
def test_ink_bolder_than_its_reading_is_not_hollowed(width):
    """An 8 drawn 12 px wide with a filled crossing 34 px across, separated from its paper as if its strokes were
    `width` px wide (a photo's local reading, a number's thinner digits): the rolling ball is sized from the ink
    found, so the strokes and the blob are ink through their middle. Before, a ball three readings wide (13 or 19
    px) fitted inside them: the paper estimate there was the ink itself, and 4 px kept a fifth of the ink, 6 px
    all but the blob, the 8 read as a 0 with a bar."""
    from digitrec.ink import _separate

    page = np.full((240, 200), 255, np.uint8)
    cv2.ellipse(page, (100, 75), (30, 34), 0, 0, 360, 0, 12, cv2.LINE_AA)
    cv2.ellipse(page, (100, 160), (38, 45), 0, 0, 360, 0, 12, cv2.LINE_AA)
    cv2.circle(page, (100, 114), 17, 0, -1, cv2.LINE_AA)
    _, mask, _ = _separate(page.astype(np.float32) / 255, width)
    drawn = page < 128
    assert mask[114, 100] and mask[75, 70], "the blob's or a stroke's middle is taken for paper"
    assert (mask & drawn).sum() >= 0.95 * drawn.sum()


@pytest.mark.parametrize("grey", [0, 120])
def test_a_thick_digit_in_a_thin_printed_box_keeps_its_strokes(mnist_test, grey):
    """A form box printed one pixel wide around a digit written with a thick pen: the box's long thin lines once
    set the stroke width (and their zero gradient at the centre made the page look like a shadow), so the
    background filter, sized from that width, took the thick strokes for paper and the digit lost them."""
    images, _ = mnist_test
    for i in (3, 10, 13):  # a 0, a 0 and a 0: round strokes, no straight run a box could hide
        cover = renderings.pen(images[i], 100, 7, np.random.default_rng(i))
        page = np.full((150, 150), 255, np.uint8)
        h, w = cover.shape
        top, left = (150 - h) // 2, (150 - w) // 2
        page[top : top + h, left : left + w] = np.round(255 * (1 - cover)).astype(np.uint8)
        plain = normalize(page)
        cv2.rectangle(page, (left - 12, top - 12), (left + w + 12, top + h + 12), grey, 1)
        assert similarity(normalize(page), plain) > 0.9


def test_the_pen_that_laid_most_ink_sets_the_stroke_width_not_a_thin_box(mnist_test):
    """A thick digit's ridge (the distance map's local maxima) is sparse where a thin printed box's is dense: a box
    one pixel wide held most ridge pixels, and most of their widths too, and set the stroke width to its own (for the
    thin 1 of these 5 digits). Each connected component's median ridge width now counts by its area."""
    from digitrec.ink import stroke_reading

    images, _ = mnist_test
    for i in range(5):
        cover = renderings.pen(images[i], 80, 10, np.random.default_rng(i))
        h, w = cover.shape
        mask = np.zeros((h + 40, w + 40), bool)
        mask[20 : 20 + h, 20 : 20 + w] = cover > 0.5
        plain = stroke_reading(mask, mask.astype(np.float32), by_area=True)[1]
        cv2.rectangle(mask.view(np.uint8), (8, 8), (w + 31, h + 31), 1, 1)
        assert stroke_reading(mask, mask.astype(np.float32), by_area=True)[1] >= 0.8 * plain >= 5


def test_a_printed_box_or_ruled_line_alone_is_form_lines_and_a_digit_or_a_one_is_not(mnist_test):
    images, _ = mnist_test
    box = np.zeros((100, 100), np.uint8)
    cv2.rectangle(box, (10, 10), (89, 89), 1, 2)
    ruled = np.zeros((100, 100), np.uint8)
    cv2.line(ruled, (0, 70), (99, 71), 1, 2)
    assert formlines.all_form_lines(box.astype(bool), 2.0) and formlines.all_form_lines(ruled.astype(bool), 2.0)
    one = np.zeros((100, 100), bool)
    one[2:98, 47:52] = True  # a thin 1 across a tight crop
    assert not formlines.all_form_lines(one, 5.0)
    for digit in images[:10]:
        assert not formlines.all_form_lines(cv2.resize(digit, (100, 100)) > 100, 8.0)


def lined_paper(cover, spacing, tilt, squared, seed=0, keystone=0.0):
    """Pen digit `cover` (ink coverage) on 360x480 paper printed with 1-2 px lines `spacing` px apart, horizontal
    only (ruled) or both ways (`squared`), 25 % as dark as the ink, the page turned `tilt` degrees and seen in
    perspective (corners moved by up to `keystone` of its sides), as a phone photographs a notebook: float32 in
    [0, 1], and the same page without the lines."""
    rng = np.random.default_rng(seed)
    h, w = 360, 480
    ink = np.zeros((h, w), "float32")
    top, left = (h - cover.shape[0]) // 2, (w - cover.shape[1]) // 2
    ink[top : top + cover.shape[0], left : left + cover.shape[1]] = cover
    lines = np.zeros((h, w), np.uint8)
    slope = np.tan(np.radians(tilt))
    for k in np.arange(-w, 2 * w, spacing) + rng.uniform(0, spacing):
        cv2.line(lines, (-w, int(k - slope * w)), (2 * w, int(k + 2 * slope * w)), 1, int(rng.integers(1, 3)))
        if squared:
            cv2.line(lines, (int(k + slope * w), -w), (int(k - 2 * slope * w), 2 * w), 1, int(rng.integers(1, 3)))
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + rng.uniform(-keystone, keystone, (4, 2)).astype("float32") * np.float32([w, h])
    view = cv2.getPerspectiveTransform(corners, moved)
    ink, lines = cv2.warpPerspective(ink, view, (w, h)), cv2.warpPerspective(lines, view, (w, h))
    noise = 0.015 * rng.standard_normal((h, w)).astype("float32")
    light = np.linspace(0.95, 0.8, w, dtype="float32")[None, :]  # the light falls off across the page
    page = [np.clip(light * (1 - 0.8 * np.maximum(ink, lined)) + noise, 0, 1) for lined in (0.25 * lines, 0 * lines)]
    return page[0], page[1]


SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def test_the_lines_of_squared_and_ruled_paper_are_not_ink(mnist_test):
    """A digit written across the squares of a maths notebook, or on ruled paper, the page tilted or in perspective:
    the printed lines are as thin as the pen and cross the digit, but they are not its strokes (a third of the
    `grid` family's digits were read as a patch of lattice before, similarity 0.06-0.7 here). The last page is
    graph paper's fine lattice, 12 px squares."""
    images, _ = mnist_test
    scores = []
    for i in (0, 1, 2, 18):  # a 7, a 2, a 1 and a 3: straight strokes along the lines among them
        cover = renderings.pen(images[i], 110, 4, np.random.default_rng(i))
        for spacing, tilt, squared, keystone in ((40, 0.0, True, 0), (28, 2.5, True, 0), (55, -1.5, True, 0.05),
                                                 (36, 1.0, False, 0), (32, 0.5, True, 0.05), (12, 1.0, True, 0)):
            lined, plain = lined_paper(cover, spacing, tilt, squared, seed=i, keystone=keystone)
            a, b = normalize(lined), normalize(plain)  # up to a pixel apart: a thin 1's centre of mass moves
            scores.append(max(similarity(np.roll(a, shift, (0, 1)), b) for shift in SHIFTS))
    assert min(scores) > 0.85, np.round(scores, 2)


def test_the_table_beside_the_page_is_dropped_but_not_a_tight_crops_strokes(mnist_test):
    """`formlines.drop_page_edges`: a dark strip along a side of a photo, apart from the digit, goes; a digit whose
    strokes fill the picture from side to side (a tight crop: a 5's flag along its top) keeps them all, and so
    does a digit within a stroke width of the strip."""
    digit = cv2.resize(mnist_test[0][0], (60, 60), interpolation=cv2.INTER_CUBIC) > 100  # a 7
    page = np.zeros((200, 160), bool)
    page[70:130, 50:110] = digit
    beside = page.copy()
    beside[:, :12] = True  # the table, 12 px wide, along the left side
    strength = beside.astype(np.float32)
    assert np.array_equal(formlines.drop_page_edges(beside, 4.0, strength), page)
    near = np.zeros_like(page)
    near[70:130, 2:62] = digit
    near[:, :12] = True  # the 7's bar 3 px from the strip
    assert formlines.drop_page_edges(near, 4.0, near.astype(np.float32)) is near
    five = cv2.resize(mnist_test[0][15], (16, 16), interpolation=cv2.INTER_AREA) > 60  # test digit 15, a 5
    r0, r1, c0, c1 = masks.bbox(five)
    tight = cv2.resize(five[r0:r1, c0:c1].astype(np.uint8), (64, 64), interpolation=cv2.INTER_NEAREST).astype(bool)
    tight[:20], tight[58:], tight[:6, :58] = False, False, True  # its flag along the top, 14 px above the rest
    assert formlines.drop_page_edges(tight, 6.0, tight.astype(np.float32)) is tight


def test_the_lines_of_a_page_turned_8_or_9_degrees_are_not_ink(mnist_test):
    """A notebook photographed turned 8-9 degrees: the lines were searched up to 6 degrees (`pagelines.PAGE_SKEW`,
    10 now); with the code before, 9 of these 12 pages had no lines found and kept their lattice or ruling as ink
    (similarity 0.01-0.43)."""
    images, _ = mnist_test
    for i in (0, 1, 2, 18):
        cover = renderings.pen(images[i], 110, 4, np.random.default_rng(i))
        for spacing, tilt, squared in ((40, 8.0, True), (30, -9.0, True), (36, 8.5, False)):
            lined, plain = lined_paper(cover, spacing, tilt, squared, seed=i)
            assert pagelines.lift_page_lines(lined) is not lined, (i, tilt)
            a, b = normalize(lined), normalize(plain)
            assert max(similarity(np.roll(a, shift, (0, 1)), b) for shift in SHIFTS) > 0.85, (i, tilt)


def test_a_small_crop_of_squared_paper_is_a_page_too(mnist_test):
    """A photo of a digit on squared or ruled paper reduced to a quarter (a small crop of a photo, 64-128 px a
    side) kept its lattice as ink: the page's lines are looked for down to `pagelines.PAGE_SIDE` = 64 px (128
    before). The same crop of plain paper is left as it is."""
    images, _ = mnist_test
    cover = renderings.pen(images[0], 110, 4, np.random.default_rng(0))
    for spacing, squared in ((40, True), (36, False)):
        lined, plain = (cv2.resize(p, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
                        for p in lined_paper(cover, spacing, 1.0, squared))
        assert 64 <= min(lined.shape) < 128
        assert pagelines.lift_page_lines(lined) is not lined and pagelines.lift_page_lines(plain) is plain
        assert similarity(normalize(lined), normalize(plain)) > 0.85


@pytest.mark.parametrize("spacings", [(60,), (50, 80), (40, 95, 50), (30, 30, 75)])
def test_lines_that_are_not_a_lattice_are_left_to_the_form_line_filter(mnist_test, spacings):
    """One or two ruled lines, or unevenly spaced ones, are not the paper's lattice (a form's box and ruled line are
    `formlines.drop_form_lines`'s): the picture is read as it is."""
    cover = renderings.pen(mnist_test[0][18], 110, 4, np.random.default_rng(0))
    page, _ = lined_paper(cover, 10_000, 0.0, False)  # no lines: one spacing wider than the page
    for y in 40 + np.cumsum((0, *spacings)):
        page[int(y) : int(y) + 2] *= 0.8
    assert pagelines.lift_page_lines(page) is page


def test_a_line_row_that_only_borders_the_line_does_not_stop_normalization(mnist_dir):
    """MNIST training digit 9956 (an 8) as `digitrec train --model robust` renders it (`ruled`, seed 1): in one
    tile a single row passed as a line only through the dilated band beside the real line, its own response 0,
    and `_one_family` raised IndexError out of `normalize`, stopping the training's rendering. (Its family was
    drawn by the generator's first number, as `renderings._normalize_rendered` draws it, among the fifteen
    families of then.)"""
    images, labels = data.load_split("train", mnist_dir)
    rng = np.random.default_rng([renderings.TRAIN_SEED, 9956])
    rng.random()  # the draw of the family
    out = normalize(renderings.render("ruled", images[9956], rng))
    assert labels[9956] == 8 and out.shape == (28, 28) and (out > 0.5).sum() > 40


FOUR_16 = ["0000000111100000", "0000000111100000", "0000001111100000", "0000001111000000", "0000011111000000",
           "0000111111000000", "0001110110000000", "0011100110000000", "0111111111110000", "1111111111111111",
           "0000001110000000", "0000000110000000", "0000001110000000", "0000001110000000", "0000001100000000",
           "0000001100000000"]  # a binary16 rendering of a validation 4


@pytest.mark.parametrize("light_ink", [True, False])
def test_a_reading_that_finds_no_ink_gives_way_to_the_next(light_ink):
    """A thick 4 stretched into a 16x16 binary crop, its bar crossing the whole frame: the paper, cut into four
    blobs of one width, reads as slightly more consistent strokes than the ink, and the extraction that took
    it for ink found nothing and raised "no ink found"; the ink's reading is now tried next."""
    four = np.array([[int(c) for c in row] for row in FOUR_16], np.uint8) * 255
    ink = normalize(four if light_ink else 255 - four) > 0.5
    assert ink.sum(axis=1).max() >= 18, "the bar is gone"
    assert ink.sum(axis=0).max() >= 14, "the stem is gone"


def test_specks_and_salt_noise_are_ignored(digit, reference):
    image = drawing(digit, scale=6).copy()
    rng = np.random.default_rng(2)
    rows, cols = rng.integers(0, image.shape[0], 60), rng.integers(0, image.shape[1], 60)
    image[rows, cols] = 0  # isolated black pixels (dust, sensor defects)
    out = normalize(image)
    assert_mnist_like(out)
    assert similarity(out, reference) > 0.85


def test_exif_orientation_is_applied(tmp_path, digit, reference):
    """A phone JPEG stored sideways with an EXIF Orientation tag is read upright."""
    upright = Image.fromarray(drawing(digit)).convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; Orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    stored.save(path, "JPEG", quality=92, exif=exif)
    assert load_image(path).size == upright.size
    assert similarity(normalize(path), reference) > 0.85


# ---------------------------------------------------------------- blank images


@pytest.mark.parametrize("image", [
    np.full((64, 64), 255, np.uint8),
    np.zeros((64, 64), np.uint8),
    np.full((100, 80, 3), 128, np.uint8),
    np.full((50, 50), 0.7, np.float32),
    np.zeros((40, 40, 4), np.uint8),  # fully transparent
    np.clip(200 + 2 * np.random.default_rng(0).standard_normal((120, 90)), 0, 255).astype(np.uint8),  # sensor noise
], ids=["white", "black", "grey RGB", "float grey", "transparent RGBA", "noisy paper"])
def test_blank_image_raises_no_ink_found(image):
    with pytest.raises(ImageError, match="no ink found"):
        normalize(image)


def test_blank_file_raises_no_ink_found(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (200, 150), 240).save(path)
    with pytest.raises(ImageError, match="no ink found"):
        normalize(path)


@pytest.mark.parametrize("shape", [(1, 3000), (3000, 1), (2, 5000), (7, 5000)])
def test_a_strip_a_few_pixels_wide_and_longer_than_the_search_is_no_ink_not_a_crash(shape):
    """A blank 1x3000 strip once stopped `normalize` inside OpenCV: its block-averaging factor (3000 // 1024 = 2)
    was wider than the strip, so the shrunk copy had no pixel ("internal error" from `digitrec predict`)."""
    strip = np.full(shape, 255, np.uint8)
    strip[: max(1, shape[0] // 2), : max(1, shape[1] // 3)] = 0
    with pytest.raises(ImageError, match="no ink found"):
        normalize(strip)
    with pytest.raises(ImageError, match="no ink found"):
        normalize(np.full(shape, 255, np.uint8))


def test_blank_page_with_a_lighting_gradient_raises_no_ink_found():
    """Evenly written-on nothing: a photo of empty paper, lit from one side."""
    gradient = np.tile(np.linspace(120, 230, 300), (200, 1)).astype(np.uint8)
    with pytest.raises(ImageError, match="no ink found"):
        normalize(gradient)


# ---------------------------------------------------------------- unreadable input


def _png_bytes(size=(40, 30)):
    buf = io.BytesIO()
    Image.new("L", size, 255).save(buf, "PNG")
    return buf.getvalue()


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError, match="not found") as e:
        normalize(path)
    assert str(path) in str(e.value)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageError) as e:
        normalize(tmp_path)
    assert str(tmp_path) in str(e.value)


@pytest.mark.parametrize("name,content", [
    ("notes.txt", b"this is not an image\n"),
    ("fake.png", bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8))),
    ("empty.jpg", b""),
    ("page.html", b"<html><body>7</body></html>"),
])
def test_non_image_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match="not an image") as e:
        normalize(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "HEIF"])
def test_truncated_files(tmp_path, digit, fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    buf = io.BytesIO()
    noisy = np.random.default_rng(0).integers(0, 256, (300, 300), dtype=np.uint8)  # incompressible
    Image.fromarray(noisy).save(buf, fmt)
    path = tmp_path / f"cut{FORMATS[fmt]}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError) as e:
        normalize(path)
    assert str(path) in str(e.value)
    assert "corrupt" in str(e.value) or "truncated" in str(e.value) or "not an image" in str(e.value)


def test_corrupt_png_data(tmp_path):
    """A PNG whose compressed pixel data is damaged (valid header, bad CRC / stream)."""
    data = bytearray(_png_bytes((200, 200)))
    idat = data.index(b"IDAT")
    for i in range(idat + 8, min(idat + 60, len(data) - 12)):
        data[i] ^= 0x5A
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt") as e:
        normalize(path)
    assert str(path) in str(e.value)


def test_corrupt_bytes_are_named_as_bytes():
    with pytest.raises(ImageError, match="<bytes>"):
        normalize(b"\x89PNG\r\n\x1a\n garbage")


def test_image_error_is_a_digitrec_error():
    assert issubclass(ImageError, DigitrecError)


# ---------------------------------------------------------------- decompression bombs


def _png_claiming(width, height):
    """A tiny PNG file whose header claims `width` x `height` pixels (IHDR patched, CRC fixed)."""
    data = bytearray(_png_bytes((1, 1)))
    start = data.index(b"IHDR")
    data[start + 4 : start + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[start : start + 17])) & 0xFFFFFFFF
    data[start + 17 : start + 21] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize("width,height", [(10000, 10000), (60000, 60000)],
                         ids=["above the limit", "far above the limit"])
def test_decompression_bomb_header_is_rejected(tmp_path, width, height):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(width, height))
    with pytest.raises(ImageError, match="too large") as e:
        normalize(path)
    assert str(path) in str(e.value)


def test_pixel_limit_applies_to_real_images(tmp_path, monkeypatch, digit):
    path = tmp_path / "big.png"
    Image.fromarray(drawing(digit, scale=8)).save(path)  # 224 x 224 = 50,176 pixels
    monkeypatch.setattr(decoding, "MAX_PIXELS", 50_000)
    with pytest.raises(ImageError, match="too large") as e:
        normalize(path)
    assert str(path) in str(e.value) and "50,000" in str(e.value)
    monkeypatch.setattr(decoding, "MAX_PIXELS", 60_000)
    assert_mnist_like(normalize(path))


# ---------------------------------------------------------------- bad arrays and objects


@pytest.mark.parametrize("bad", [
    np.zeros((0, 0), np.uint8),
    np.zeros((10,), np.uint8),
    np.zeros((4, 10, 10, 3, 1), np.uint8),
    np.zeros((20, 20, 5), np.float32),
    np.zeros((20, 20), np.int64),
    np.array([[np.nan, 1.0], [0.0, 1.0]], np.float32),
    "not a path.png",
    None,
], ids=["empty", "1-D", "5-D", "5 channels", "int64", "NaN", "missing path", "None"])
def test_bad_inputs_raise_image_error(bad):
    with pytest.raises(ImageError):
        normalize(bad)


@pytest.mark.parametrize("radius", [2.0, 3.5, 5.25])
def test_chamfer_disk_dilation_is_the_distance_transform_within_a_radius(radius):
    """`_flat_paper` dilates by `_chamfer_disk` instead of taking a distance transform: the same pixels."""
    from digitrec.ink import _chamfer_disk

    rng = np.random.default_rng(int(radius * 4))
    for density in (0.001, 0.01, 0.05):
        ink = rng.random((90, 70)) < density
        ink[rng.integers(90), rng.integers(70)] = True
        within = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, 3) <= radius
        assert np.array_equal(cv2.dilate(ink.astype(np.uint8), _chamfer_disk(radius)).astype(bool), within)


@pytest.mark.parametrize("diameter", [31, masks.WIDE_KERNEL, 151])
def test_closing_is_opencvs_closing_exactly(diameter):
    """`masks.closing` (the paper under bold ink, `ink._ink_mask`) runs wide kernels on an 8-bit picture's levels
    in uint8: the result is OpenCV's float32 closing, value for value, for an 8-bit picture, for one minus it
    (values off the 1/255 lattice), and for a picture of more than 256 values (run as it is)."""
    rng = np.random.default_rng(diameter)
    levels = cv2.GaussianBlur(rng.integers(0, 256, (120, 170)).astype(np.uint8), (0, 0), 3)
    levels[40:60, 20:150] = 30  # a bold dark bar for the closing to fill
    kernel = masks.disk(diameter)
    for image in (levels / np.float32(255), 1 - levels / np.float32(255), rng.random((120, 170), np.float32)):
        expected = cv2.morphologyEx(image, cv2.MORPH_CLOSE, kernel)
        closed = masks.closing(image, kernel)
        assert closed.dtype == image.dtype and np.array_equal(closed, expected)


def test_a_tiny_scan_is_never_separated_on_a_copy_smaller_than_itself(mnist_test, monkeypatch):
    """A 28x28 digit out of focus (a Gaussian of 2 px) has a fat Otsu split: its strokes read three or four times
    wider than they are, and the copy where they would be `ink.STROKE_WORK` px wide was 19-26 px a side, smaller than
    the scan, its loops closed (a 3 read "1"). Enlarged three times to be read, it is separated on a copy of at least
    its own 28 px (`ink.work_width`)."""
    from digitrec.ink import _separate

    sizes = []
    monkeypatch.setattr("digitrec.ink._separate", lambda g, *args: sizes.append(max(g.shape)) or _separate(g, *args))
    images, _ = mnist_test
    for image in images[:20]:
        with contextlib.suppress(ImageError):  # a 0 blurred into a soft ring may have no sharp ink
            normalize(cv2.GaussianBlur(255 - image, (0, 0), 2.0))
    assert len(sizes) >= 20 and min(sizes) >= 28, sorted(sizes)[:5]
    assert work_width(26.8) == STROKE_WORK and work_width(26.8, enlargement=3) == pytest.approx(26.8 / 3)
    assert work_width(12.0, enlargement=4) == STROKE_WORK  # a bold 16 px scan still shrinks to 6 px strokes


def test_a_page_divided_by_its_papers_light_shows_its_ink_alike_on_both_sides_of_a_hard_shadow():
    """A 300 x 400 page (paper 0.9) with a dark stroke (0.2) 12 px wide across the edge of a hard shadow that takes
    45 % of the light on the right half: divided by the paper's light, the paper is white and the stroke 0.22 on
    both sides (0.2 / 0.9), where the picture had it 0.2 and 0.11. An evenly lit page, and light ink on a dark
    page under the same shadow, are not divided (None)."""
    page = np.full((300, 400), 0.9, np.float32)
    page[140:152, 50:350] = 0.2
    light = np.where(np.arange(400) < 200, 1.0, 0.55).astype(np.float32)
    assert divided_by_paper(page) is None
    flat = divided_by_paper(page * light)
    assert flat is not None
    assert np.allclose(flat[146, [100, 300]], 0.2 / 0.9, atol=0.01)  # the stroke, lit and shaded
    assert np.allclose(flat[[50, 250]][:, [100, 300]], 1.0, atol=0.01)  # the paper
    assert divided_by_paper((1.0 - page) * light) is None
    assert divided_by_paper((1.0 - page) * light, 12.0) is None  # its stroke width known: the same


def test_faint_thin_ink_across_a_hard_shadows_edge_on_grained_paper_is_divided():
    """20 pages 300 x 400 of grained paper (0.85, blurred noise of 0.03) with a faint 2 px zig-zag stroke (0.55)
    crossing the edge of a hard shadow that takes 45 % of the light on the right half: each is divided by its
    paper's light, told dark at its stroke width (`ink._dark_ink`). The closing's top-hats alone, the test before,
    told 17 of them light: the closing of the inverted picture fills the corners between the stroke and the edge,
    and the grain weighs as much on both sides."""
    divided = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        grain = cv2.GaussianBlur(rng.normal(0, 1, (300, 400)).astype(np.float32), (0, 0), 3)
        stroke = cv2.polylines(np.zeros((300, 400), np.uint8), [np.array([[150, 60], [230, 120], [170, 180],
                                                                          [250, 240]], np.int32)], False, 1, 2)
        page = np.where(stroke > 0, 0.55, 0.85 + 0.03 * grain / grain.std()).astype(np.float32)
        light = np.where(np.arange(400) < 200, 1.0, 0.55).astype(np.float32)
        divided += divided_by_paper(page * light, 2.0) is not None
    assert divided >= 19


def test_bold_ink_is_a_dark_non_convex_region_and_a_shade_is_convex_or_lighter():
    """`ink._bold_ink` tells bold strokes that vanished from `is_shadow`'s quotient from a shadow: a ring 25 px wide
    (a felt-tip 0 cropped to its ink) 80 % dark is ink; a straight band or a half-plane as dark is a shade (convex,
    as a shadow cut by the picture's sides is), and so is the ring at 40 % dark (a shadow's darkness)."""
    from digitrec import ink

    yy, xx = np.mgrid[0:160, 0:120]
    radius = np.hypot(yy - 80, xx - 60)
    shapes = {"ring": (radius > 30) & (radius < 55), "band": np.abs(xx - 0.3 * yy - 40) < 20, "half": xx > 0.5 * yy + 30}
    for name, mask in shapes.items():
        for darkness in (0.8, 0.4):
            page = np.where(mask, 0.9 * (1 - darkness), 0.9).astype(np.float32)
            assert ink._bold_ink(page, mask) == (name == "ring" and darkness == 0.8), (name, darkness)
