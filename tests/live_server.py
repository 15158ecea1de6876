"""A real uvicorn server on a free 127.0.0.1 port, run in a thread of the test process."""

import contextlib
import functools
import io
import socket
import threading
import time

import numpy as np
from PIL import Image

# MNIST test images that any decent model reads with high confidence: index -> label.
DIGITS = {3: 0, 2: 1, 1: 2, 18: 3, 4: 4, 15: 5, 11: 6, 0: 7, 61: 8, 7: 9}


@functools.cache
def bundled_app():
    """The app around the bundled model, built once per test process (loading Keras takes seconds)."""
    from digitrec.server import create_app

    return create_app()


@contextlib.contextmanager
def live_server(app):
    """Serve `app` with uvicorn on 127.0.0.1 and a free port, with its limits (as `digitrec serve`); yields the URL."""
    import uvicorn

    from digitrec.guards import uvicorn_settings

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **uvicorn_settings(app.state.limits)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def scan_png(digit, side=140):
    """PNG bytes of a 28x28 MNIST digit (light on dark) as a dark-on-white scan, `side` px square."""
    image = Image.fromarray(255 - np.asarray(digit, np.uint8)).resize((side, side), Image.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
