"""Dynamic batching: concurrent requests are normalized in worker processes and classified together.

The batcher alone (real model, asyncio), then a real uvicorn server on 127.0.0.1 under concurrent clients,
whose labels must equal `Recognizer.predict` on the same PNG canvases.
"""

import asyncio
import concurrent.futures
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from digitrec import parallel
from digitrec.batching import DynamicBatcher
from live_server import bundled_app, live_server


@pytest.fixture(scope="module")
def recognizer():
    return bundled_app().state.recognizer


@pytest.fixture(scope="module")
def digits(mnist_test):
    """24 normalized MNIST test digits `(24, 1, 28, 28)` (each canvas's first hypothesis, `normalize`'s image) and
    their 280x280 canvas PNGs (black ink, transparent; enlarged smoothly, so read at 63 px and at 280 px)."""
    images = mnist_test[0][:24]
    canvases = []
    for digit in images:
        ink = np.asarray(Image.fromarray(digit).resize((280, 280), Image.BICUBIC))
        buf = io.BytesIO()
        Image.fromarray(np.dstack([np.zeros((280, 280, 3), np.uint8), ink]), "RGBA").save(buf, format="PNG")
        canvases.append(buf.getvalue())
    return np.stack([parallel.normalize_source(png)[:1] for png in canvases]), canvases


def test_concurrent_requests_are_classified_together_in_bounded_batches(recognizer, digits):
    normalized = digits[0][:10]
    sizes = []

    def classify(x):
        sizes.append(len(x))
        return recognizer.classify(x)

    async def main():
        batcher = DynamicBatcher(classify, max_batch=4)
        return await asyncio.gather(*(batcher.classify(x) for x in normalized))

    probabilities = asyncio.run(main())
    assert sizes == [4, 4, 2]  # all ten were queued before the first model call
    np.testing.assert_allclose(np.stack(probabilities), recognizer.classify(normalized), atol=1e-5)


def test_a_batch_waits_for_requests_still_being_normalized_but_a_lone_one_does_not(recognizer, digits):
    a, b = digits[0][:2]
    sizes = []

    def classify(x):
        sizes.append(len(x))
        return recognizer.classify(x)

    async def late(batcher):
        with batcher.incoming():  # as the server marks a request while its image is normalized
            await asyncio.sleep(0.05)
        return await batcher.classify(b)

    async def main():
        batcher = DynamicBatcher(classify, max_batch=8, max_wait=3600)
        pair = await asyncio.gather(batcher.classify(a), late(batcher))
        alone = await asyncio.wait_for(batcher.classify(a), timeout=60)  # would wait an hour if it waited
        return pair, alone

    (pa, pb), alone = asyncio.run(main())
    assert sizes == [2, 1]
    np.testing.assert_allclose(np.stack([pa, pb, alone]), recognizer.classify(np.stack([a, b, a])), atol=1e-5)


def test_a_failed_model_call_fails_its_batch_and_the_batcher_goes_on(recognizer, digits):
    good = digits[0][0]

    async def main():
        batcher = DynamicBatcher(recognizer.classify, max_batch=4)
        failed = await asyncio.gather(batcher.classify(good), batcher.classify(good[:27, :27]),
                                      return_exceptions=True)
        return failed, await batcher.classify(good)

    failed, after = asyncio.run(main())
    assert all(isinstance(e, ValueError) for e in failed)  # the images of one batch cannot be stacked
    np.testing.assert_allclose(after, recognizer.classify(good[None])[0], atol=1e-5)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        DynamicBatcher(len, max_batch=0)


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_concurrent_clients_get_the_labels_of_recognizer_predict(recognizer, digits):
    app = bundled_app()  # the default server: a process pool of one worker per core, batches up to 32
    _, canvases = digits
    bodies = [*canvases[:12], b"\x89PNG\r\n\x1a\n corrupt", *canvases[12:]]
    expected = [p.label for p in recognizer.predict(canvases)]
    before = app.state.batcher.images
    with live_server(app) as url, httpx.Client(base_url=url, timeout=120) as client:

        def post(body):
            response = client.post("/api/predict", files={"file": ("canvas.png", body, "image/png")})
            return response.status_code, response.json()

        with concurrent.futures.ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(post, bodies))
    assert answers[12][0] == 422 and "canvas.png" in answers[12][1]["detail"]
    good = answers[:12] + answers[13:]
    assert [status for status, _ in good] == [200] * len(canvases)
    assert [body["label"] for _, body in good] == expected
    assert app.state.batcher.images - before == len(canvases)
