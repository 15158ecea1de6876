"""The server's limits and HTTP guards (`digitrec.guards`), against a real uvicorn server on 127.0.0.1:
security headers, HEAD, the Host allowlist, readable 413s, head and body timeouts, the connection
limit, the JSON 500, no filesystem paths in /api/model, and memory under 16 large uploads at once."""

import io
import json
import logging
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from digitrec import guards, server
from digitrec.guards import Limits
from digitrec.inference import BUNDLED_MODEL
from live_server import bundled_app, live_server


@pytest.fixture(scope="module")
def base_url():
    with live_server(bundled_app()) as url:
        yield url


def app_with(**options):
    """Another app around the already-loaded bundled model (`create_app` options: limits, hosts)."""
    return server.create_app(bundled_app().state.recognizer, **options)


def connect(url):
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_until_closed(sock):
    """Everything the server sends on `sock` until it closes it (TimeoutError after the socket's timeout)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        pass
    return data


# ---------------------------------------------------------------- headers


def test_security_headers_on_every_response(base_url):
    with httpx.Client(base_url=base_url, timeout=60) as client:
        responses = {
            "page": client.get("/"), "head": client.head("/"), "health": client.get("/api/health"),
            "model": client.get("/api/model"), "asset": client.get("/static/app.js"), "docs": client.get("/docs"),
            "spec": client.get("/openapi.json"), "404": client.get("/nothing"), "405": client.get("/api/predict"),
            "415": client.post("/api/predict", content=b"7", headers={"content-type": "text/plain"}),
            "413": client.post("/api/predict", content=bytes(3_000_000), headers={"content-type": "application/json"}),
            "bad host": client.get("/api/health", headers={"host": "evil.example"}),
        }
    for name, r in responses.items():
        assert r.headers["x-content-type-options"] == "nosniff", name
        assert r.headers["x-frame-options"] == "DENY", name
        assert r.headers["referrer-policy"] == "no-referrer", name
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, name
        assert ("'unsafe-inline'" in csp) == (name == "docs"), name  # only Swagger UI's page runs an inline script
    assert [responses[n].status_code for n in ("404", "405", "415", "413", "bad host")] == [404, 405, 415, 413, 400]


def test_head_of_the_page(base_url):
    page, head = httpx.get(f"{base_url}/"), httpx.head(f"{base_url}/")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == page.headers["content-type"] and "text/html" in page.headers["content-type"]
    assert int(head.headers["content-length"]) == len(page.content)


# ---------------------------------------------------------------- Host allowlist (DNS rebinding)


def test_loopback_server_answers_only_to_loopback_names(base_url):
    port = base_url.rsplit(":", 1)[1]
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert client.get("/api/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", f"rebind.evil.example:{port}", "127.0.0.1.evil.example", "", "[::1"):
            r = client.get("/api/health", headers={"host": host})
            assert r.status_code == 400 and r.headers["content-type"] == "application/json", host
            assert "not allowed" in r.json()["detail"], host


def test_any_host_when_open_to_the_network():
    with live_server(app_with(hosts=None)) as url:
        assert httpx.get(f"{url}/api/health", headers={"host": "digits.example:8000"}).status_code == 200


def test_serve_checks_hosts_only_on_loopback():
    assert all(map(guards.is_loopback, ("127.0.0.1", "127.0.0.2", "::1", "localhost", "LocalHost")))
    assert not any(map(guards.is_loopback, ("0.0.0.0", "::", "192.168.1.5", "example.com")))


# ---------------------------------------------------------------- over-limit bodies


def test_over_limit_body_is_a_413_that_urllib_can_read(base_url):
    """The body is read (up to 8 MB more) before the 413, so the client is not cut off while it sends."""
    url = f"{base_url}/api/predict"
    bodies = {"Content-Length": lambda: bytes(3_000_000), "chunked": lambda: iter([bytes(1_000_000)] * 3)}
    for kind, body in bodies.items():
        for _ in range(20):
            request = urllib.request.Request(url, data=body(), headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as e:  # not ConnectionResetError / BrokenPipeError
                urllib.request.urlopen(request, timeout=60)
            assert e.value.code == 413, kind
            assert "request body too large" in json.loads(e.value.read())["detail"], kind
    assert Limits().drain_bytes >= 8 * 2**20


# ---------------------------------------------------------------- slow clients and many connections


@pytest.fixture(scope="module")
def strict_url():
    """A server with 1-second head and body timeouts."""
    with live_server(app_with(limits=Limits(head_timeout=1, body_timeout=1))) as url:
        yield url


def test_a_client_that_trickles_its_head_is_dropped(strict_url):
    head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"x" * 200 + b"\r\n\r\n"
    start, sent = time.monotonic(), 0  # before the connection: the server's clock starts when it accepts it
    with connect(strict_url) as sock:
        sock.settimeout(0.1)
        while sent < len(head):
            try:
                sock.send(head[sent : sent + 1])
            except (ConnectionResetError, BrokenPipeError):
                break
            sent += 1
            try:
                read_until_closed(sock)
                break
            except TimeoutError:
                pass  # still open: next byte
        seconds = time.monotonic() - start
    assert sent < len(head), "the server waited for the whole head"
    assert seconds >= 1  # not before its head timeout


def test_a_head_over_16_kb_is_refused(base_url):
    with connect(base_url) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"x" * Limits().head_bytes)
        assert read_until_closed(sock).startswith(b"HTTP/1.1 400 ")


def test_an_idle_connection_is_dropped(strict_url):
    """The clock starts before the connection: the server's starts when it accepts it, which in this process (the
    server runs in a thread) may come before the client's thread runs again (0.997 s measured once from after)."""
    start = time.monotonic()
    with connect(strict_url) as sock:
        assert read_until_closed(sock) == b""  # blocks until closed (30 s socket timeout)
        assert time.monotonic() - start >= 1


def test_a_client_that_trickles_its_body_gets_a_408(strict_url):
    """A byte every 0.2 s for the first 0.4 s of the 1 s body timeout, then nothing (a stalled client): the server
    answers 408 when the time is up. (One that sends on: `test_a_client_still_sending_its_body_reads_the_408`.)"""
    with connect(strict_url) as sock:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")
        start = time.monotonic()
        for _ in range(2):
            time.sleep(0.2)
            if time.monotonic() - start < 0.5:  # (a stalled client sends no more)
                sock.sendall(b" ")
        sock.settimeout(30)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    status, _, rest = response.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout", response[:200]
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1]) == {"detail": "request body not received within 1 s"}


def slow_body(seconds, step=0.05, chunk=b" " * 100):
    """A request body sent over `seconds`: `chunk` every `step` seconds."""
    for _ in range(round(seconds / step)):
        time.sleep(step)
        yield chunk


def test_a_client_still_sending_its_body_reads_the_408(strict_url):
    """urllib sends the whole body before it reads: the server answers 408 after 1 s, reads on and discards the
    rest (a lingering close), so that the client's sends do not fail with a broken pipe and it reads the 408."""
    for _ in range(3):
        request = urllib.request.Request(f"{strict_url}/api/predict", data=slow_body(2.0),
                                         headers={"Content-Type": "application/json", "Content-Length": "4000"})
        with pytest.raises(urllib.error.HTTPError) as e:  # not URLError(BrokenPipeError) / ConnectionResetError
            urllib.request.urlopen(request, timeout=30)
        assert e.value.code == 408
        assert json.loads(e.value.read()) == {"detail": "request body not received within 1 s"}


def test_a_lingering_close_ends(strict_url, monkeypatch):
    """After the 408 the server shuts its side (the client reads the end of the stream) but reads on what the client
    sends; it closes (a send then fails) `LINGERING_TIME` after the answer for a client that sends on, and
    `LINGERING_TIMEOUT` after it for one that falls silent."""
    monkeypatch.setattr(guards, "LINGERING_TIME", 3.0)
    monkeypatch.setattr(guards, "LINGERING_TIMEOUT", 0.5)
    for client in ("sends on", "silent"):
        with connect(strict_url) as sock:
            sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{")
            response = read_until_closed(sock)  # the server's side ends after its answer
            answered = time.monotonic()
            if client == "silent":
                time.sleep(1.0)
            with pytest.raises(OSError):  # a reset (or a broken pipe) once the server has closed
                while time.monotonic() - answered < 30:
                    sock.send(b" " * 100)
                    time.sleep(0.05)
            waited = time.monotonic() - answered
        assert response.startswith(b"HTTP/1.1 408 "), client
        assert (waited >= 2.9) if client == "sends on" else (waited < 2.9), (client, waited)


def test_connections_over_the_limit_get_503():
    with live_server(app_with(limits=Limits(connections=3))) as url:
        idle = [connect(url) for _ in range(2)]
        try:
            deadline = time.monotonic() + 10
            while (status := httpx.get(f"{url}/api/health").status_code) != 503 and time.monotonic() < deadline:
                time.sleep(0.05)  # until the server has accepted both idle connections
            assert status == 503
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 10
        while (status := httpx.get(f"{url}/api/health").status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200


# ---------------------------------------------------------------- failures and what the API shows


def test_an_unexpected_exception_is_a_json_500_and_a_logged_traceback():
    app = app_with()

    @app.get("/api/broken")
    def broken():  # stands for a bug anywhere in the app
        raise RuntimeError("a bug")

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    with live_server(app) as url:
        logging.getLogger("uvicorn.error").addHandler(handler)
        try:
            r = httpx.get(f"{url}/api/broken")
            assert httpx.get(f"{url}/api/health").status_code == 200  # still serving
        finally:
            logging.getLogger("uvicorn.error").removeHandler(handler)
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"detail": "internal error"}
    assert r.headers["x-content-type-options"] == "nosniff"
    [record] = [rec for rec in records if rec.exc_info]
    assert isinstance(record.exc_info[1], RuntimeError) and str(record.exc_info[1]) == "a bug"


def test_api_model_shows_no_filesystem_path(tmp_path):
    run = tmp_path / "my-run"
    run.mkdir()
    shutil.copy(BUNDLED_MODEL, run / "model.keras")
    (run / "metrics.json").write_text(json.dumps({"accuracy": 0.99}))
    (run / "config.json").write_text(json.dumps({"model": "robust", "init": str(tmp_path / "runs" / "start.keras"),
                                                 "data_dir": "data/mnist", "epochs": 3}))
    with live_server(server.create_app(run)) as url:
        text = httpx.get(f"{url}/api/model").text
    info = json.loads(text)
    assert info["training"] == {"model": "robust", "init": "start.keras", "data_dir": "data/mnist", "epochs": 3}
    assert str(tmp_path) not in text and "/tmp" not in text


# ---------------------------------------------------------------- memory


def _peak_rss_mib():
    return next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:")) / 1024


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux /proc/self/clear_refs")
@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_16_simultaneous_4000x4000_uploads_stay_within_memory(base_url):
    """A 4000x4000 1-bit PNG is a few KB on the wire and 16 million pixels decoded. Decoded at reduced
    size, 2 at a time, 16 of them at once raise the peak RSS by tens of MiB (decoded at full size, 16
    took a server from 1.2 to 3.5 GB). Blank pictures keep this test fast: each is decoded in full,
    then refused for having no ink. The bound is generous on purpose; `scripts/serve_memory.py`
    measures the peak under 32 uploads of a drawn digit."""
    buf = io.BytesIO()
    Image.new("1", (4000, 4000), 1).save(buf, "PNG")
    png = buf.getvalue()
    assert len(png) < 50_000
    start = threading.Barrier(16)

    def upload(_):
        start.wait()
        return httpx.post(f"{base_url}/api/predict", files={"file": ("big.png", png)}, timeout=600)

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS of this process (the server runs in it)
    before = _peak_rss_mib()
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(upload, range(16)))
    growth = _peak_rss_mib() - before
    assert [r.status_code for r in responses] == [422] * 16
    assert {r.json()["detail"].split(":")[0] for r in responses} == {"no ink found"}
    print(f"16 uploads of a 4000x4000 PNG: peak RSS grew by {growth:.0f} MiB")
    assert growth < 1024, f"peak RSS grew by {growth:.0f} MiB"
