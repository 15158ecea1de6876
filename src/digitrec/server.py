"""The web app: draw a digit or a number in the browser and see the reading live, plus a REST API.

    digitrec serve [--model PATH] [--host 127.0.0.1] [--port 8000]

`create_app(model)` loads the model once and returns a FastAPI app:

- `GET /`: the drawing page (files in `digitrec/static/`, no CDN: it works offline);
- `POST /api/predict`: a multipart `file`, or JSON `{"image": "<base64 or data URL>"}`;
- `POST /api/read`: the same inputs, holding a handwritten number: its digits, boxes and labels;
- `GET /api/health`, `GET /api/model`; OpenAPI docs at `/docs` (served locally).

Requests are decoded and normalized in a pool of worker processes and
classified together in one model call when they come at once (dynamic
batching, `digitrec.batching`); numbers are read whole in the workers, each
loading the model once, where it is an ONNX or LiteRT file (a Keras model
reads them in threads of the server's process: the workers never import
TensorFlow).

Bad input is a JSON `{"detail": "..."}` with a 4xx status: a body over
`Limits.body_bytes` or an image over `decoding.MAX_PIXELS` pixels (413), a
file that is not an image in a supported format (415), a corrupt image,
malformed JSON or a blank canvas (422), a body that does not arrive in time
(408), a `Host` header outside the allowlist (400). Any other failure is a
JSON 500 `{"detail": "internal error"}`, and uvicorn logs its traceback.
The limits and HTTP guards are in `digitrec.guards`.
"""

import asyncio
import base64
import binascii
import contextlib
import os
import re
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import anyio
import numpy as np
from fastapi import HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from digitrec import __version__, decoding, guards, parallel, runs
from digitrec.batching import DynamicBatcher
from digitrec.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from digitrec.guards import LIMITS, LOOPBACK_HOSTS
from digitrec.inference import Recognizer

STATIC = Path(__file__).with_name("static")


class PredictJSON(BaseModel):
    image: str = Field(description="an encoded image (PNG, JPEG, ...) as base64 or as a data URL "
                                   "(`data:image/png;base64,...`)")


_LABEL = "the most probable digit; null when rejected (not a digit)"
_CONFIDENCE = "the highest probability"
_DIGIT_SCORE = "how much the input looks like one handwritten digit, in [0, 1] (see digitrec.rejection)"
_REJECTED = "\"not a digit\" when `digit_score` is under the model's calibrated threshold; absent otherwise"
_PROBABILITIES = "10 probabilities summing to 1, indexed by digit"
_INPUT = ("the 28x28 image the model saw after normalization: rows of floats in [0, 1], light ink on black, "
          "rounded to 3 decimals")


class DigitFields(BaseModel):
    label: int | None = Field(ge=0, le=9, description=_LABEL)
    confidence: float = Field(ge=0, le=1, description=_CONFIDENCE)
    digit_score: float = Field(ge=0, le=1, description=_DIGIT_SCORE)
    rejected: str | None = Field(None, description=_REJECTED)
    probabilities: list[float] = Field(description=_PROBABILITIES)
    input: list[list[float]] = Field(description=_INPUT)


class PredictResult(DigitFields):
    model: str = Field(description="name of the model that answered")


class DigitResult(DigitFields):
    box: list[int] = Field(description="[x0, y0, x1, y1]: the digit's ink in the image's pixels (x1, y1 exclusive)")


class ReadResult(BaseModel):
    text: str = Field(description="the number, one character per digit, left to right; ? for a rejected digit, "
                                  "all ? where the reading is rejected")
    confidence: float = Field(ge=0, le=1, description="the product of the digits' confidences")
    digits: list[DigitResult] = Field(description="each digit, left to right, with its own label and rejection")
    rejected: str | None = Field(None, description="\"not a number\" where one of several digits is rejected "
                                                   "(not a digit); absent otherwise")
    model: str = Field(description="name of the model that answered")


class Error(BaseModel):
    detail: str


_ERRORS = {
    400: {"model": Error, "description": "a Host header outside the allowlist, or a bad Content-Length"},
    408: {"model": Error, "description": "the request body did not arrive in time"},
    413: {"model": Error, "description": f"body over the limit (default {LIMITS.body_bytes:,} bytes), "
                                         f"or image over {decoding.MAX_PIXELS:,} pixels"},
    415: {"model": Error, "description": "not multipart or JSON, or the file is not an image in a supported format "
                                         f"({', '.join(decoding.FORMATS)})"},
    422: {"model": Error, "description": "corrupt image, malformed JSON or base64, or no ink found (blank canvas)"},
}
_PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "an image file"}}}},
    "application/json": {"schema": PredictJSON.model_json_schema()},
}}}


def create_app(model=None, limits=LIMITS, hosts=LOOPBACK_HOSTS, workers=None, max_batch=32, max_wait=0.002):
    """Build the web app around one model, loaded now.

    Concurrent requests are decoded and normalized in a pool of `workers`
    processes and classified together by a `batching.DynamicBatcher`.

    Args:
        model: None or "bundled" for the bundled model, a `.keras`, `.onnx`
            or `.tflite` file or a run folder (see `digitrec.runs.model_path`),
            a `keras.Model`, or a `Recognizer`.
        limits: `guards.Limits`, kept as `app.state.limits`; the
            server's share of them goes to uvicorn (`guards.uvicorn_settings`).
            At most `limits.decodes` images are decoded at once, whatever `workers`.
        hosts: the `Host` header names to answer (any port), or None for
            any; the default suits a server on loopback (DNS rebinding).
        workers: processes that decode and normalize (default: the number of
            cores, `parallel.default_workers()`), and read numbers for a
            model file that is not Keras; started with the first request and
            stopped with the app; 0 does it all in threads of this process.
        max_batch: most images per model call (1: every request alone).
        max_wait: seconds a batch waits for requests still being normalized.

    Returns:
        `fastapi.FastAPI`, an ASGI app for uvicorn; `app.state.recognizer`
        is its `Recognizer`, `app.state.batcher` its `DynamicBatcher`.

    Raises:
        ModelError: the model cannot be loaded, or a metrics.json or
            config.json beside it is not valid JSON.
        ValueError: `workers` < 0, `max_batch` < 1 or `max_wait` < 0.
    """
    recognizer = model if isinstance(model, Recognizer) else Recognizer(runs.serving_model(model))
    info = model_info(recognizer)
    recognizer.classify(np.zeros((1, 28, 28), "float32"))  # trace the predict function now, not on request 1
    workers = parallel.default_workers() if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    batcher = DynamicBatcher(lambda hypotheses: list(zip(*recognizer.choose(hypotheses))), max_batch, max_wait)
    decodes = anyio.CapacityLimiter(limits.decodes)  # bounds the memory that decoding takes
    pool = None  # the worker processes, started by the first request

    # A number is read in the worker processes too where they can load the model without TensorFlow.
    pairs = recognizer.pairs_path  # the file's suffix names its runtime: not loaded here, the workers load it
    read_in_workers = (workers and recognizer.model_path is not None and recognizer.runtime.kind != "keras"
                       and (pairs is None or pairs.suffix.lower() != ".keras"))

    async def in_workers(function, *args):
        nonlocal pool
        pool = pool or parallel.process_pool(workers)
        try:
            return await asyncio.wrap_future(pool.submit(function, *args))
        except BrokenProcessPool:  # a worker died (killed, out of memory): the next request gets a new pool
            broken, pool = pool, None
            broken.shutdown(wait=False)
            raise

    async def prepare(data, source):
        """Decode and normalize (at most `limits.decodes` at once); HTTP errors for bad images."""
        with batcher.incoming(), _http_errors():
            async with decodes:
                if workers:
                    return await in_workers(parallel.normalize_source, data, source)
                return await anyio.to_thread.run_sync(parallel.normalize_source, data, source)

    async def read_number(data, source):
        """Decode and read a number (`Recognizer.read`, in a worker or a thread); HTTP errors for bad images."""
        with _http_errors():
            async with decodes:
                if read_in_workers:
                    return await in_workers(parallel.read_source, data, source, recognizer.model_path,
                                            recognizer.min_digit_score, pairs)
                return await anyio.to_thread.run_sync(
                    lambda: recognizer.read(decoding.load_image(data, name=source)))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        nonlocal pool
        yield
        batcher.close()
        if pool is not None:  # stopped; a restarted server (the same app) starts a new pool
            stopping, pool = pool, None
            stopping.shutdown(cancel_futures=True)

    app = FastAPIOffline(title="digitrec", version=__version__, description="Recognize a handwritten digit or "
                         "number: draw it at `/`, or POST an image to `/api/predict` or `/api/read`.",
                         lifespan=lifespan)
    app.add_middleware(guards.BodyLimit, limits=limits)
    if hosts is not None:
        app.add_middleware(guards.HostAllowlist, hosts=hosts)
    app.add_middleware(guards.SecurityHeaders)
    app.add_exception_handler(Exception, _internal_error)
    app.state.recognizer, app.state.limits, app.state.batcher = recognizer, limits, batcher

    @app.post("/api/predict", response_model=PredictResult, responses=_ERRORS, openapi_extra=_PREDICT_BODY,
              response_model_exclude_unset=True)
    async def predict(request: Request):
        """Recognize the digit in an image: a multipart `file`, or JSON `{"image": base64 or data URL}`."""
        x, p = await batcher.classify(await prepare(*await _image_upload(request)))
        result = recognizer.to_prediction(p)
        answer = {"label": result.label, "confidence": result.confidence, "digit_score": result.digit_score,
                  "probabilities": list(result.probabilities), "input": x.round(3).tolist(), "model": info["name"]}
        return {**answer, "rejected": result.rejected} if result.rejected else answer

    @app.post("/api/read", response_model=ReadResult, responses=_ERRORS, openapi_extra=_PREDICT_BODY,
              response_model_exclude_unset=True)
    async def read(request: Request):
        """Read a handwritten number (one or more digits side by side): the same inputs as `/api/predict`."""
        reading = await read_number(*await _image_upload(request))
        answer = reading.as_dict()
        for digit, d in zip(answer["digits"], reading.digits):
            digit["input"] = d.input.round(3).tolist()
        return {**answer, "model": info["name"]}

    @app.get("/api/health")
    def health():
        """Liveness: the server is up and its model is loaded."""
        return {"status": "ok", "model": info["name"], "version": __version__}

    @app.get("/api/model")
    def model_card():
        """The model: name, architecture, parameters, and its test metrics (from metrics.json or its card)."""
        return info

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


@contextlib.contextmanager
def _http_errors():
    """Turn image errors into HTTP errors: 413 too large, 415 unsupported format, 422 unreadable."""
    try:
        yield
    except ImageTooLargeError as e:
        raise HTTPException(413, str(e)) from None
    except UnsupportedImageError as e:
        raise HTTPException(415, str(e)) from None
    except ImageError as e:
        raise HTTPException(422, str(e)) from None


async def _image_upload(request):
    """`(bytes, source)` of the image in a multipart `file` or a JSON `{"image"}` body; a 4xx otherwise."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=0) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "multipart form has no file field named 'file'")
            data, source = await upload.read(), f"file {upload.filename!r}"
    elif kind == "application/json" or kind.endswith("+json"):
        try:
            image = PredictJSON.model_validate_json(await request.body()).image
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(map(str, first["loc"])) or "body"
            raise HTTPException(422, f"bad JSON body ({where}): {first['msg']}; "
                                     'expected {"image": "<base64 or data URL>"}') from None
        data, source = _decode_base64(image), "JSON field 'image'"
    else:
        raise HTTPException(415, f"unsupported Content-Type {kind or 'none'!r}: send multipart/form-data "
                                 'with a file field named \'file\', or application/json {"image": "<base64>"}')
    if not data:
        raise HTTPException(422, f"{source} is empty")
    return data, source


def _decode_base64(text):
    """Bytes of a base64 string or a base64 data URL; 422 when it is neither."""
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise HTTPException(422, "JSON field 'image': data URL is not base64-encoded (expected ';base64,')")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise HTTPException(422, f"JSON field 'image': not valid base64 ({e})") from None


async def _internal_error(request, exc):
    """Any unexpected exception: a JSON 500 (Starlette then re-raises it, and uvicorn logs the traceback)."""
    return guards.error(500, "internal error", guards.HEADERS)


# Model-card rows and the metrics.json keys they report.
_CARD_KEYS = {"accuracy": "accuracy", "macro recall": "recall_macro", "macro precision": "precision_macro",
              "macro f1": "f1_macro", "loss (cross-entropy)": "loss"}


def model_info(recognizer):
    """What `/api/model` says about a model (dict).

    `runtime` is "keras", "onnx" or "litert" and `quantization` None or
    "int8" (see `digitrec.runtimes`); `architecture` and `parameters` are
    None for an exported file without digitrec metadata.
    `metrics` are the scalar test metrics from `metrics.json` next to the
    model file (a run folder), else the numbers in the tables of
    `MODEL_CARD.md` next to it (the bundled model), percentages as fractions.
    `training` is the run's `config.json` when there is one.
    """
    runtime, path = recognizer.runtime, recognizer.model_path
    info = {"name": runtime.architecture, "architecture": runtime.architecture, "parameters": runtime.parameters,
            "runtime": runtime.kind, "quantization": runtime.quantization,
            "file": None, "metrics": {}, "metrics_source": None, "training": None}
    if path is None:
        return info
    folder = path.parent
    info.update(file=path.name, name=path.stem if path.stem not in ("model", "best") else f"{folder.name}/{path.name}")
    if (folder / "metrics.json").is_file():
        metrics = runs.read_metrics(folder)
        info.update(metrics_source="metrics.json",
                    metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    elif (folder / "MODEL_CARD.md").is_file():
        info.update(metrics_source="MODEL_CARD.md", metrics=card_metrics((folder / "MODEL_CARD.md").read_text()))
    if (folder / "config.json").is_file():
        config = runs.read_config(folder)  # absolute paths say too much about the server: names only
        info["training"] = {k: Path(v).name if isinstance(v, str) and os.path.isabs(v) else v for k, v in config.items()}
    return info


def card_metrics(markdown):
    """The numbers in a model card's two-column tables, `{key: float}`.

    A `| metric | value |` table's rows keep `metrics.json`'s names where
    they have one (`macro recall` -> `recall_macro`); in another table
    (`| set | accuracy |`) a row becomes `<set>_<column>`
    (`realworld-dev (2,880 images)` -> `realworld_dev_accuracy`). Values
    like `99.67 %` become 0.9967; cells that are not a number are skipped.
    """
    metrics, header = {}, None
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) != 2:
            header = None
        elif header is None:
            header = [c.lower() for c in cells]
        elif (number := re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)\s*(%?)", cells[1])) is not None:
            value = float(number[1].replace(",", "")) / (100 if number[2] else 1)
            row = cells[0].lower()
            key = _CARD_KEYS.get(row, _slug(row)) if header[1] == "value" else f"{_slug(row)}_{_slug(header[1])}"
            metrics[key] = round(value, 6)
    return metrics


def _slug(text):
    return re.sub(r"\W+", "_", re.sub(r"\(.*?\)", "", text)).strip("_")


def serve(model=None, host="127.0.0.1", port=8000, limits=LIMITS, workers=None, max_batch=32):
    """Run the web app with uvicorn until interrupted (see `create_app` for the other arguments).

    On a loopback address the app answers only to the loopback names
    (`guards.LOOPBACK_HOSTS` and `host`), against DNS rebinding; on any other
    address, to any `Host`.
    """
    import uvicorn

    hosts = (*LOOPBACK_HOSTS, host) if guards.is_loopback(host) else None
    app = create_app(model, limits=limits, hosts=hosts, workers=workers, max_batch=max_batch)
    uvicorn.run(app, host=host, port=port, log_level="info", **guards.uvicorn_settings(limits))
