"""The web app's HTTP API against a real uvicorn server on 127.0.0.1: every endpoint, every
bad input, 200 requests from 8 concurrent clients, and the `digitrec serve` command."""

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

import digitrec
from digitrec import cli, evaluation, preprocessing, server
from digitrec.errors import ModelError
from digitrec.guards import Limits
from digitrec.inference import BUNDLED_MODEL
from live_server import DIGITS, bundled_app, live_server, scan_png


@pytest.fixture(scope="module")
def base_url():
    with live_server(bundled_app()) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def scans(mnist_test):
    """{MNIST index: (label, PNG bytes of a 140x140 dark-on-white scan)}."""
    images, labels = mnist_test
    return {i: (int(labels[i]), scan_png(images[i])) for i in DIGITS}


def _png(image):
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def assert_result(body, label, model="default"):
    assert set(body) == {"label", "confidence", "digit_score", "probabilities", "input", "model"}
    assert body["digit_score"] == pytest.approx((10 * body["confidence"] - 1) / 9, abs=1e-6)
    assert body["label"] == label, body["probabilities"]
    probs = body["probabilities"]
    assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-4)
    assert body["confidence"] == max(probs) == probs[label]
    x = np.array(body["input"])
    assert x.shape == (28, 28) and x.min() >= 0 and x.max() == 1.0
    assert body["model"] == model


# ---- endpoints ---------------------------------------------------------------


def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "model": "default", "version": digitrec.__version__}


def test_model_reports_the_bundled_models_card(client):
    info = client.get("/api/model").json()
    card = (BUNDLED_MODEL.parent / "MODEL_CARD.md").read_text()
    # served from its ONNX copy (`runs.serving_model`): the same predictions, a tenth of the start-up
    assert info["name"] == "default" and (info["file"], info["runtime"]) == ("default.onnx", "onnx")
    assert info["architecture"] == "robust" and f"{info['parameters']:,} parameters" in card
    assert info["metrics_source"] == "MODEL_CARD.md"
    metrics = info["metrics"]
    assert {"accuracy", "recall_macro", "precision_macro", "f1_macro", "loss", "realworld_dev_accuracy"} <= set(metrics)
    for key in ("accuracy", "recall_macro", "realworld_dev_accuracy"):  # the card's own numbers, as fractions
        assert f"| {100 * metrics[key]:.2f} % |" in card, key
    assert f"| {metrics['loss']:.4f} |" in card


def test_model_from_a_run_folder_reports_its_metrics_json(tmp_path, mnist_test):
    """A run folder: /api/model reads metrics.json (here: real scores on 300 test images)."""
    run = tmp_path / "my-run"
    run.mkdir()
    shutil.copy(BUNDLED_MODEL, run / "model.keras")
    app = server.create_app(run)
    bare = server.model_info(app.state.recognizer)  # a model file with nothing beside it
    assert bare["metrics"] == {} and bare["metrics_source"] is None and bare["training"] is None
    images, labels = mnist_test
    probabilities = app.state.recognizer.classify(images[:300] / 255.0)
    scores = evaluation.scores(probabilities, labels[:300])
    (run / "metrics.json").write_text(json.dumps(scores))
    (run / "config.json").write_text(json.dumps({"model": "robust", "epochs": 3}))
    app = server.create_app(app.state.recognizer)  # reads the new files; the model is loaded once
    with live_server(app) as url:
        info = httpx.get(f"{url}/api/model").json()
        r = httpx.post(f"{url}/api/predict", files={"file": scan_png(images[0])})
    assert info["name"] == "my-run/model.keras" and info["metrics_source"] == "metrics.json"
    assert info["metrics"] == {k: v for k, v in scores.items() if not isinstance(v, list)}
    assert info["training"] == {"model": "robust", "epochs": 3}
    assert_result(r.json(), int(labels[0]), model="my-run/model.keras")
    (run / "config.json").write_text('{"model": "robust",')  # cut short
    with pytest.raises(ModelError, match=r"config\.json: cannot read"):
        server.create_app(app.state.recognizer)


def test_predict_multipart_every_digit(client, scans):
    for label, png in scans.values():
        r = client.post("/api/predict", files={"file": ("scan.png", png, "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert_result(body, label)
        # "input" is exactly what the model saw: of the picture's readings, the one the classifier chose (this
        # 140 px enlargement is smooth, so it is read at 63 px and at its own size)
        expected = bundled_app().state.recognizer.choose([preprocessing.normalize_hypotheses(png)])[0][0]
        np.testing.assert_allclose(body["input"], expected, atol=5e-4)


def test_predict_json_base64_and_data_url(client, scans):
    label, png = scans[0]
    multipart = client.post("/api/predict", files={"file": png}).json()
    encoded = base64.b64encode(png).decode()
    for image in (encoded, f"data:image/png;base64,{encoded}", "\n".join(re.findall(".{1,76}", encoded))):
        r = client.post("/api/predict", json={"image": image})
        assert r.status_code == 200, r.text
        assert_result(r.json(), label)
        assert r.json() == multipart


@pytest.fixture(scope="module")
def number_png(mnist_test):
    """(text, PNG bytes, true boxes) of a handwritten number of four MNIST test digits, drawn dark on white."""
    import synth

    images, labels = mnist_test
    image, boxes = synth.number(images[[0, 1, 2, 3]], np.random.default_rng(5))
    return "".join(map(str, labels[:4])), _png(Image.fromarray(synth.canvas(image))), boxes


def test_read_a_number_multipart_and_json(client, number_png):
    text, png, boxes = number_png
    r = client.post("/api/read", files={"file": ("number.png", png, "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"text", "confidence", "digits", "model"} and body["model"] == "default"
    assert body["text"] == text
    assert body["confidence"] == pytest.approx(np.prod([d["confidence"] for d in body["digits"]]), rel=1e-5)
    for digit, char, (x0, y0, x1, y1) in zip(body["digits"], text, boxes):
        assert set(digit) == {"label", "confidence", "digit_score", "probabilities", "box", "input"}
        assert digit["label"] == int(char) and np.array(digit["input"]).shape == (28, 28)
        bx0, by0, bx1, by1 = digit["box"]  # the box is on the digit, in the image's pixels
        assert abs(bx0 - x0) <= 3 and abs(by0 - y0) <= 3 and abs(bx1 - x1) <= 3 and abs(by1 - y1) <= 3
    encoded = base64.b64encode(png).decode()
    assert client.post("/api/read", json={"image": f"data:image/png;base64,{encoded}"}).json() == body


def test_threads_and_worker_processes_answer_alike(client, number_png, scans):
    """`workers=0` normalizes and reads in threads of the server's process; the default, in worker processes."""
    _, png, _ = number_png
    _, scan = scans[18]
    with live_server(server.create_app(workers=0)) as url, httpx.Client(base_url=url, timeout=60) as threads:
        for endpoint, data in (("/api/read", png), ("/api/predict", scan)):
            here, there = (c.post(endpoint, files={"file": ("x.png", data, "image/png")}) for c in (threads, client))
            assert here.status_code == there.status_code == 200
            here, there = here.json(), there.json()
            assert here.get("text") == there.get("text")
            for a, b in zip(here.get("digits", [here]), there.get("digits", [there]), strict=True):
                assert (a["label"], a.get("box")) == (b["label"], b.get("box"))
                assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)


@pytest.fixture(scope="module")
def test_model_url(base_url):
    """The server of the model under test: DIGITREC_TEST_MODEL, else the bundled one (already serving)."""
    path = os.environ.get("DIGITREC_TEST_MODEL")
    if not path:
        yield base_url
        return
    with live_server(server.create_app(path)) as url:
        yield url


def test_predict_and_read_say_not_a_digit(test_model_url):
    """A letter A (in a font training never saw) gets `label: null` and `"rejected": "not a digit"`."""
    from digitrec import outliers

    font = outliers.held_out_fonts()[0][0]
    letter = outliers.letters(np.random.default_rng(1), [(font, "A")])
    png = _png(Image.fromarray(np.round(255 * (1 - letter)).astype(np.uint8)))
    predicted = httpx.post(f"{test_model_url}/api/predict", files={"file": png}, timeout=60).json()
    assert predicted["label"] is None and predicted["rejected"] == "not a digit", predicted
    assert 0 <= predicted["digit_score"] < 0.5 and len(predicted["probabilities"]) == 10
    read = httpx.post(f"{test_model_url}/api/read", files={"file": png}, timeout=60).json()
    assert read["text"] == "?" and read["digits"][0]["label"] is None, read
    assert read["digits"][0]["rejected"] == "not a digit"


def test_read_says_not_a_number_where_a_mark_is_no_digit(test_model_url, mnist_test):
    """A digit beside a shape: the reading is rejected whole ("??", "not a number"), each digit keeping its own."""
    import synth

    images, labels = mnist_test
    png = _png(Image.fromarray(synth.digit_beside_a_shape(images[0], seed=0)))
    read = httpx.post(f"{test_model_url}/api/read", files={"file": png}, timeout=60).json()
    assert read["text"] == "??" and read["rejected"] == "not a number", read
    assert read["digits"][0]["label"] == labels[0] and "rejected" not in read["digits"][0]
    assert read["digits"][1]["label"] is None and read["digits"][1]["rejected"] == "not a digit"


def test_page_and_its_assets_are_served_with_no_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<canvas id="pad"' in page.text
    for asset, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        r = client.get(f"/static/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
        assert f'"/static/{asset}"' in page.text
        assert not re.search(r"https?://|//cdn", r.text), asset  # everything is local: works offline
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)


def test_openapi_docs_are_served_locally(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    scripts = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert scripts and all(s.startswith("/") for s in scripts), scripts  # no CDN
    bundle = client.get(next(s for s in scripts if s.endswith(".js")))
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    spec = client.get("/openapi.json").json()
    predict = spec["paths"]["/api/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"200", "413", "415", "422"} <= set(predict["responses"])
    assert {"/api/health", "/api/model", "/api/read"} <= set(spec["paths"])
    assert spec["paths"]["/api/read"]["post"]["requestBody"] == predict["requestBody"]


# ---- bad input ---------------------------------------------------------------


def _chunks(data, size=65536):
    for i in range(0, len(data), size):
        yield data[i : i + size]


BLANK = _png(Image.new("RGB", (280, 280), "white"))


@pytest.mark.parametrize("name, request_kwargs, status, message", [
    ("body over 2 MB (Content-Length)", {"files": {"file": b"\x89PNG" + bytes(3_000_000)}}, 413, "body too large"),
    ("body over 2 MB (chunked, no length)", {"content": _chunks(bytes(3_000_000)),
                                             "headers": {"content-type": "application/json"}}, 413, "body too large"),
    ("over 16 megapixels", {"files": {"file": ("big.png", _png(Image.new("L", (5000, 3201), 255)))}},
     413, "16.0 megapixels; the limit is 16"),
    ("a text file", {"files": {"file": ("notes.txt", b"not an image\n")}}, 415, "'notes.txt': not an image"),
    ("truncated PNG", {"files": {"file": ("cut.png", BLANK[:120])}}, 422, "'cut.png': corrupt"),
    ("empty file", {"files": {"file": ("empty.png", b"")}}, 422, "'empty.png' is empty"),
    ("no 'file' field", {"files": {"image": ("a.png", BLANK)}}, 422, "no file field named 'file'"),
    ("malformed JSON", {"content": b'{"image": "iVBOR', "headers": {"content-type": "application/json"}},
     422, "bad JSON body"),
    ("JSON without 'image'", {"json": {"picture": "x"}}, 422, "(image): Field required"),
    ("JSON 'image' not a string", {"json": {"image": 7}}, 422, "(image)"),
    ("bad base64", {"json": {"image": "not base64!"}}, 422, "not valid base64"),
    ("data URL not base64", {"json": {"image": "data:image/png,abc"}}, 422, "not base64-encoded"),
    ("base64 of a non-image", {"json": {"image": base64.b64encode(b"hello").decode()}}, 415, "not an image"),
    ("blank canvas", {"json": {"image": "data:image/png;base64," + base64.b64encode(BLANK).decode()}},
     422, "no ink found"),
    ("plain text body", {"content": b"7", "headers": {"content-type": "text/plain"}}, 415, "unsupported Content-Type"),
])
@pytest.mark.parametrize("endpoint", ["/api/predict", "/api/read"])
def test_bad_input_is_a_json_4xx(client, endpoint, name, request_kwargs, status, message):
    if not isinstance(request_kwargs.get("content", b""), bytes):  # a generator is used up by the first request
        request_kwargs = {**request_kwargs, "content": _chunks(bytes(3_000_000))}
    r = client.post(endpoint, **request_kwargs)
    assert r.status_code == status, (name, r.text)
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["detail"], r.json()
    assert client.get("/api/health").status_code == 200  # the server is fine afterwards


def test_body_limit_is_exact(client):
    """2 MB is allowed, one byte more is not, whatever the body holds."""
    limit = Limits().body_bytes
    for size, status in ((limit, 422), (limit + 1, 413)):
        body = b'{"image": "' + b"A" * (size - 13) + b'"}'
        assert len(body) == size
        r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, r.text  # 422: 'AAA...' is base64 of zeros, not an image


def test_unknown_path_and_method(client):
    assert client.get("/api/nothing").status_code == 404
    r = client.get("/api/predict")
    assert r.status_code == 405 and "detail" in r.json()


# ---- concurrency -------------------------------------------------------------


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_200_requests_from_8_concurrent_clients(base_url, scans):
    jobs = [list(scans.values())[i % len(scans)] for i in range(200)]

    def client_run(k):
        """Client k sends every 8th request, alternating multipart and JSON; returns (label, status, body)."""
        out = []
        with httpx.Client(base_url=base_url, timeout=60) as c:
            for n, (label, png) in enumerate(jobs[k::8]):
                if n % 2:
                    r = c.post("/api/predict", json={"image": base64.b64encode(png).decode()})
                else:
                    r = c.post("/api/predict", files={"file": png})
                out.append((label, r.status_code, r.json()))
        return out

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = [r for rs in pool.map(client_run, range(8)) for r in rs]
    seconds = time.monotonic() - start
    assert len(results) == 200
    assert [s for _, s, _ in results] == [200] * 200, [b for _, s, b in results if s != 200][:3]
    for label, _, body in results:
        assert_result(body, label)
    print(f"200 requests, 8 clients: {seconds:.1f} s")


# ---- the command -------------------------------------------------------------


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_digitrec_serve_command_binds_localhost_and_stops_cleanly():
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "digitrec.cli", "serve", "--model", "bundled", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "digitrec serve did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output


def test_digitrec_serve_with_a_missing_model_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.keras"
    assert cli.main(["serve", "--model", str(missing)]) == 1
    assert capsys.readouterr().err == f"digitrec: error: {missing}: model file not found\n"


def test_digitrec_serve_refuses_a_bad_port(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--port", "70000"])
    assert exit_info.value.code == 2
    assert "argument --port: expected a port number in [0, 65535], got '70000'" in capsys.readouterr().err
