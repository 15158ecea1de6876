"""Dynamic batching for the server: concurrent requests share one model call.

The idea of TensorFlow Serving's batching (`max_batch_size`,
`batch_timeout_micros`) and Triton's dynamic batcher: a request's
normalized image waits in a queue; one task takes the queued images, at
most `max_batch` of them, and classifies them together, then answers each
request with its row. While a model call runs, new requests queue up and
form the next batch, so a busy server runs fewer, larger model calls.

It waits for more images (at most `max_wait` seconds after the first) only
while other requests are still being decoded and normalized (`incoming`):
a lone client never waits.
"""

import asyncio
import contextlib

import anyio


class DynamicBatcher:
    """Collect images from concurrent coroutines and classify them in batches.

    Args:
        classify: a function from a list of N queued items to N results,
            in order (e.g. `Recognizer.classify`: normalized images
            `(28, 28)` to probabilities `(N, 10)`); it runs in a worker
            thread, one call at a time.
        max_batch: int >= 1, most images per model call.
        max_wait: seconds a batch waits for requests that are on their way
            (default 2 ms).
    """

    def __init__(self, classify, max_batch=32, max_wait=0.002):
        if max_batch < 1 or max_wait < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait >= 0, got {max_batch} and {max_wait}")
        self._classify, self.max_batch, self.max_wait = classify, max_batch, max_wait
        self._incoming, self._loop, self._queue, self._task = 0, None, None, None
        self.calls = self.images = 0  # model calls made and images classified, for the mean batch size

    @contextlib.contextmanager
    def incoming(self):
        """Mark a request that will call `classify` soon (while it is decoded and normalized)."""
        self._incoming += 1
        try:
            yield
        finally:
            self._incoming -= 1

    def close(self):
        """Stop the batching task (when the app shuts down); a later `classify` starts a new one."""
        if self._task is not None:
            self._task.cancel()
        self._loop = self._task = None

    async def classify(self, image):
        """The result of `classify` for one item (a normalized image `(28, 28)`: its probabilities
        `(10,)`), computed with its batch.

        Raises:
            whatever the model call raised, in every request of that batch.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first call, or a new event loop (a test client runs one per portal)
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run())
        future = loop.create_future()
        await self._queue.put((image, future))
        return await future

    async def _next_batch(self):
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if not self._incoming or left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _run(self):
        while True:
            batch = await self._next_batch()
            try:
                probabilities = await anyio.to_thread.run_sync(self._classify, [x for x, _ in batch])
            except Exception as e:  # noqa: BLE001 (every waiting request gets the model's error)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            self.calls, self.images = self.calls + 1, self.images + len(batch)
            for (_, future), p in zip(batch, probabilities):
                if not future.done():  # a client that hung up cancels its future
                    future.set_result(p)
