"""The drawing page in a real browser: Debian's Chromium driven by Playwright.

Mouse (and touch) strokes on the canvas, the live prediction, the bar chart,
the 28x28 view, undo, clear, upload, keyboard use and a phone-width layout;
a number of two digits read with a box and a label over each, and a
non-digit refused.
Screenshots go to test-artifacts/ (ignored by git). `make dev` installs
Chromium where it is missing and can be installed; without it these tests
are skipped, with the reason in pytest's summary.
"""

import itertools
import math
import os
import shutil
from pathlib import Path

import pytest

from live_server import bundled_app, live_server, scan_png

CHROMIUM = os.environ.get("DIGITREC_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium found (chromium or chromium-browser on PATH, or $DIGITREC_CHROMIUM); `make dev` "
                "installs it where apt-get and root or password-less sudo are at hand", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

# A generous ceiling, not Playwright's 5 s: a loaded machine answers late, and only a broken page never does.
expect.set_options(timeout=30_000)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def arc(cx, cy, rx, ry, start, sweep, n=24):
    """Points of an elliptic arc in canvas fractions; angles in degrees, clockwise from 3 o'clock."""
    return [(cx + rx * math.cos(math.radians(start + sweep * i / n)),
             cy + ry * math.sin(math.radians(start + sweep * i / n))) for i in range(n + 1)]


# Digits as pen strokes in a square of the canvas's height: each a list of strokes, each a list of (x, y).
STROKES = {
    "0": [arc(0.5, 0.5, 0.22, 0.33, -90, 360)],
    "1": [[(0.5, 0.15), (0.5, 0.85)]],
    "2": [[*arc(0.5, 0.35, 0.2, 0.17, -160, 200, 12), (0.28, 0.82), (0.75, 0.82)]],
    "4": [[(0.6, 0.85), (0.6, 0.15), (0.25, 0.62), (0.78, 0.62)]],
    "7": [[(0.25, 0.2), (0.75, 0.2), (0.45, 0.85)]],
}
LETTER_X = [[(0.25, 0.15), (0.75, 0.85)], [(0.75, 0.15), (0.25, 0.85)]]  # not a digit (the issue reads it as 8)


@pytest.fixture(scope="module")
def base_url():
    """The page served with the bundled model, or with the .keras file in DIGITREC_TEST_MODEL."""
    from digitrec.server import create_app

    model = os.environ.get("DIGITREC_TEST_MODEL")
    with live_server(create_app(model) if model else bundled_app()) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def open_page(browser, base_url, path="/", **context_options):
    """A fresh page on `path`; any request that leaves the local server is blocked and recorded."""
    context = browser.new_context(**context_options)
    outside = []

    def route(r):
        if r.request.url.startswith(base_url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors, blocked = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and blocked.append(m.text))
    page.goto(base_url + path)
    page.outside, page.errors, page.blocked = outside, errors, blocked  # blocked: what the page's CSP refused
    return page


@pytest.fixture
def page(browser, base_url):
    p = open_page(browser, base_url, viewport={"width": 1000, "height": 720})
    expect(p.locator("#model")).to_contain_text("parameters")  # the page has loaded /api/model
    yield p
    assert p.outside == [], "the page must work offline (no CDN)"
    assert p.errors == [], "JavaScript errors"
    assert p.blocked == [], "the Content-Security-Policy refused something the page needs"
    p.context.close()


def on_pad(box, x, y, at=0.5):
    """Page coordinates of (x, y) in a square as tall as the pad, centred at `at` of its width."""
    left = box["x"] + at * box["width"] - box["height"] / 2
    return left + x * box["height"], box["y"] + y * box["height"]


def draw(page, strokes, release=True, at=0.5):
    """Draw `strokes` (see STROKES) with the mouse, centred at `at` of the pad's width: press, move, release."""
    page.locator("#pad").scroll_into_view_if_needed()
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        points = [on_pad(box, x, y, at) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            page.mouse.move(x1, y1, steps=max(1, round(math.dist((x0, y0), (x1, y1)) / 12)))
        if release:
            page.mouse.up()


def settled(page):
    """Wait until the answer to the latest drawing is on screen."""
    expect(page.locator("#result")).to_have_attribute("aria-busy", "false")


def bars(page):
    """[(digit text, bar width in % of its track, percentage text)] for each probability bar."""
    return page.eval_on_selector_all("#bars li", """rows => rows.map(li => [
        li.querySelector('.digit').textContent, parseFloat(li.querySelector('.bar').style.width),
        li.querySelector('.pct').textContent])""")


def seen_ink(page):
    """Sum of the 28x28 view's pixel values (0 when empty)."""
    return page.eval_on_selector("#seen", """c => c.getContext('2d').getImageData(0, 0, 28, 28).data
        .filter((_, i) => i % 4 == 0).reduce((a, b) => a + b, 0)""")


def assert_shows(page, digit):
    settled(page)
    expect(page.locator("#label")).to_have_text(digit)
    expect(page.locator("#confidence")).to_contain_text("Confidence")
    expect(page.locator("#bars .bar")).to_have_count(10)
    rows = bars(page)
    assert [d for d, _, _ in rows] == [str(i) for i in range(10)]
    assert all(pct.endswith("%") for _, _, pct in rows)
    widest = max(rows, key=lambda r: r[1])
    assert widest[0] == digit and widest[1] > 0
    expect(page.locator("#bars li.top .digit")).to_have_text(digit)
    assert seen_ink(page) > 28 * 255  # the normalized image is drawn


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_draw_a_digit_and_see_the_prediction(page, digit):
    draw(page, STROKES[digit])
    assert_shows(page, digit)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"web-digit-{digit}.png")


def overlay_colour_columns(page):
    """Page x coordinates of the columns of the box overlay that hold painted pixels."""
    box = page.locator("#boxes").bounding_box()
    columns = page.eval_on_selector("#boxes", """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, cols = [];
        for (let x = 0; x < c.width; x++)
            for (let y = 0; y < c.height; y++) if (d[4 * (y * c.width + x) + 3] > 0) { cols.push(x / c.width); break; }
        return cols; }""")
    return [box["x"] + f * box["width"] for f in columns]


def test_draw_a_number_and_see_a_box_and_label_on_each_digit(page):
    draw(page, STROKES["2"], at=0.3)
    draw(page, STROKES["7"], at=0.7)
    settled(page)
    expect(page.locator("#label")).to_have_text("27")
    expect(page.locator("#confidence")).to_contain_text("Confidence")
    assert page.eval_on_selector("#seen", "c => c.width") == 2 * 28  # what the model saw, per digit
    expect(page.locator("#bars-note")).to_contain_text("of 2")
    box = page.locator("#pad").bounding_box()
    painted = overlay_colour_columns(page)
    for at in (0.3, 0.7):  # a box around each digit's strokes, nothing far from them
        left, _ = on_pad(box, 0.2, 0, at)
        right, _ = on_pad(box, 0.8, 0, at)
        assert any(left - 10 <= x <= right + 10 for x in painted), at
    assert all(on_pad(box, 0, 0, 0.3)[0] <= x <= on_pad(box, 1, 0, 0.7)[0] for x in painted)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-number-27.png", full_page=True)
    page.keyboard.press("Escape") if page.evaluate("document.activeElement.id") == "pad" else page.click("#clear")
    expect(page.locator("#label")).to_have_text("?")
    assert overlay_colour_columns(page) == []  # clearing removes the boxes


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_a_letter_is_not_a_digit(page):
    draw(page, LETTER_X)
    settled(page)
    expect(page.locator("#label")).to_have_text("?")
    expect(page.locator("#confidence")).to_have_text("Not a digit.")
    expect(page.locator("#status")).to_contain_text("Not a digit")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-not-a-digit.png")


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_a_digit_beside_a_letter_is_not_a_number(page):
    draw(page, STROKES["7"], at=0.3)
    draw(page, LETTER_X, at=0.7)
    settled(page)
    expect(page.locator("#label")).to_have_text("??")
    expect(page.locator("#confidence")).to_have_text("Not a number.")
    expect(page.locator("#status")).to_have_text("Not a number: 1 of the 2 marks is not a digit.")


def test_prediction_is_live_while_the_pen_is_down(page):
    draw(page, STROKES["7"], release=False)  # no pointerup yet: only the debounced prediction can answer
    expect(page.locator("#label")).to_have_text("7")
    page.mouse.up()
    assert_shows(page, "7")


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_undo_clear_and_their_keys(page):
    undo, clear = page.locator("#undo"), page.locator("#clear")
    expect(undo).to_be_disabled()
    draw(page, STROKES["0"])
    assert_shows(page, "0")
    draw(page, [[(0.1, 0.5), (0.9, 0.5)]])  # a bar across the 0
    settled(page)
    undo.click()
    assert_shows(page, "0")
    draw(page, STROKES["1"][:1])  # a stroke through the 0, undone by key
    settled(page)
    page.locator("#pad").focus()
    page.keyboard.press("Backspace")
    assert_shows(page, "0")
    page.keyboard.press("Escape")  # clear
    expect(page.locator("#label")).to_have_text("?")
    assert all(width == 0 and pct == "" for _, width, pct in bars(page))
    assert seen_ink(page) == 0
    expect(undo).to_be_disabled()
    expect(clear).to_be_disabled()
    draw(page, STROKES["1"])
    assert_shows(page, "1")
    clear.click()
    expect(page.locator("#label")).to_have_text("?")


def test_upload_an_image_file(page, tmp_path, mnist_test):
    images, labels = mnist_test
    path = tmp_path / "scan.png"
    path.write_bytes(scan_png(images[4]))
    page.set_input_files("#file", path)
    assert_shows(page, str(labels[4]))
    expect(page.locator("#clear")).to_be_enabled()
    blank = tmp_path / "blank.png"
    blank.write_bytes(scan_png(images[4] * 0))
    page.set_input_files("#file", blank)
    settled(page)
    expect(page.locator("#label")).to_have_text("?")
    expect(page.locator("#status")).to_contain_text("no ink found")


def tab_through(page, n):
    """Press Tab `n` times from the top of the page; each focused control must show an outline."""
    page.click("h1")  # the start of sequential focus navigation
    names = []
    for _ in range(n):
        page.keyboard.press("Tab")
        names.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        ring = "label[for=file]" if names[-1] == "file" else ":focus"  # the hidden input's label shows its focus
        assert page.eval_on_selector(ring, "e => getComputedStyle(e).outlineStyle") == "solid", names[-1]
    return names


def test_keyboard_reaches_every_control_with_a_visible_focus(page):
    assert tab_through(page, 3) == ["pad", "file", "API documentation"]  # nothing to undo or clear yet
    draw(page, STROKES["1"])
    assert_shows(page, "1")
    assert tab_through(page, 5) == ["pad", "undo", "clear", "file", "API documentation"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # on Clear
    expect(page.locator("#label")).to_have_text("?")
    for selector in ("#pad", "#file", "#bars"):  # names for assistive technology
        assert page.locator(selector).evaluate(
            "e => e.getAttribute('aria-label') || e.labels?.[0]?.textContent || "
            "document.getElementById(e.getAttribute('aria-labelledby'))?.textContent"), selector


def test_phone_width_with_touch_strokes(browser, base_url):
    page = open_page(browser, base_url, viewport={"width": 390, "height": 844}, device_scale_factor=3,
                     is_mobile=True, has_touch=True)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        box = page.locator("#pad").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 280
        cdp = page.context.new_cdp_session(page)  # real touch input: pointerType "touch"
        for stroke in STROKES["4"]:
            points = [{"x": box["x"] + x * box["width"], "y": box["y"] + y * box["height"]} for x, y in stroke]
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
            for p0, p1 in itertools.pairwise(points):
                for t in (i / 8 for i in range(1, 9)):
                    point = {"x": p0["x"] + t * (p1["x"] - p0["x"]), "y": p0["y"] + t * (p1["y"] - p0["y"])}
                    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        assert page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
        assert_shows(page, "4")
        for selector in ("#undo", "#clear", "label[for=file]"):
            b = page.locator(selector).bounding_box()
            assert b["height"] >= 40 and b["x"] + b["width"] <= 390, selector  # big enough for a finger
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "web-phone.png", full_page=True)
        assert page.outside == [] and page.errors == [] and page.blocked == []
    finally:
        page.context.close()


def test_api_docs_render_offline(browser, base_url):
    page = open_page(browser, base_url, "/docs")
    try:
        for path in ("/api/predict", "/api/health", "/api/model"):  # Swagger UI drew each operation
            expect(page.locator(f'.opblock-summary-path[data-path="{path}"]')).to_be_visible()
        page.locator('.opblock-summary-path[data-path="/api/model"]').click()  # open it and try it out
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        expect(page.locator(".live-responses-table tbody td.response-col_status")).to_have_text("200")
        assert page.outside == [] and page.blocked == [] and page.errors == []
    finally:
        page.context.close()


def test_redoc_renders_offline(browser, base_url):
    page = open_page(browser, base_url, "/redoc")
    try:
        expect(page.get_by_text("/api/predict").first).to_be_attached()
        expect(page.locator("h1").first).to_contain_text("digitrec")
        assert page.outside == [] and page.errors == []
        # The CSP (same origin only) keeps the page offline: it refuses ReDoc's "powered by" logo from its CDN.
        assert all("'https://cdn.redoc.ly/" in message for message in page.blocked), page.blocked
    finally:
        page.context.close()
