"""The web app: draw a digit in the browser and see the prediction live, plus a REST API.

    digitrec serve [--model PATH] [--host 127.0.0.1] [--port 8000]

`create_app(model)` loads the model once and returns a FastAPI app:

- `GET /`: the drawing page (files in `digitrec/static/`, no CDN: it works offline);
- `POST /api/predict`: a multipart `file`, or JSON `{"image": "<base64 or data URL>"}`;
- `GET /api/health`, `GET /api/model`; OpenAPI docs at `/docs` (served locally).

Bad input is a JSON `{"detail": "..."}` with a 4xx status: a body over
`Limits.body_bytes` or an image over `decoding.MAX_PIXELS` pixels (413), a
file that is not an image in a supported format (415), a corrupt image,
malformed JSON or a blank canvas (422), a body that does not arrive in time
(408), a `Host` header outside the allowlist (400). Any other failure is a
JSON 500 `{"detail": "internal error"}`, and uvicorn logs its traceback.
The limits and HTTP guards are in `digitrec.guards`.
"""

import base64
import binascii
import os
import re
from pathlib import Path

import anyio
import numpy as np
from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from digitrec import __version__, decoding, guards, runs
from digitrec.errors import ImageError, ImageTooLargeError, UnsupportedImageError
from digitrec.guards import LIMITS, LOOPBACK_HOSTS
from digitrec.inference import Recognizer

STATIC = Path(__file__).with_name("static")


class PredictJSON(BaseModel):
    image: str = Field(description="an encoded image (PNG, JPEG, ...) as base64 or as a data URL "
                                   "(`data:image/png;base64,...`)")


class PredictResult(BaseModel):
    label: int = Field(ge=0, le=9, description="the most probable digit")
    confidence: float = Field(ge=0, le=1, description="the probability of `label`")
    probabilities: list[float] = Field(description="10 probabilities summing to 1, indexed by digit")
    input: list[list[float]] = Field(description="the 28x28 image the model saw after normalization: "
                                                 "rows of floats in [0, 1], light ink on black, rounded to 3 decimals")
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


def create_app(model=None, limits=LIMITS, hosts=LOOPBACK_HOSTS):
    """Build the web app around one model, loaded now.

    Args:
        model: None or "bundled" for the bundled model, a `.keras`, `.onnx`
            or `.tflite` file or a run folder (see `digitrec.runs.model_path`),
            a `keras.Model`, or a `Recognizer`.
        limits: `guards.Limits`, kept as `app.state.limits`; the
            server's share of them goes to uvicorn (`guards.uvicorn_settings`).
        hosts: the `Host` header names to answer (any port), or None for
            any; the default suits a server on loopback (DNS rebinding).

    Returns:
        `fastapi.FastAPI`, an ASGI app for uvicorn; `app.state.recognizer`
        is its `Recognizer`.

    Raises:
        ModelError: the model cannot be loaded, or a metrics.json or
            config.json beside it is not valid JSON.
    """
    recognizer = model if isinstance(model, Recognizer) else Recognizer(model)
    info = model_info(recognizer)
    recognizer.classify(np.zeros((1, 28, 28), "float32"))  # trace the predict function now, not on request 1
    decodes = anyio.CapacityLimiter(limits.decodes)  # bounds the memory that decoding takes

    def prepare(data, source):
        """Decode and normalize (in a worker thread, at most `limits.decodes` at once)."""
        try:
            return recognizer.preprocess(decoding.load_image(data, name=source))
        except ImageTooLargeError as e:
            raise HTTPException(413, str(e)) from None
        except UnsupportedImageError as e:
            raise HTTPException(415, str(e)) from None
        except ImageError as e:
            raise HTTPException(422, str(e)) from None

    app = FastAPIOffline(title="digitrec", version=__version__, description="Recognize a handwritten digit: "
                         "draw it at `/`, or POST an image to `/api/predict`.")
    app.add_middleware(guards.BodyLimit, limits=limits)
    if hosts is not None:
        app.add_middleware(guards.HostAllowlist, hosts=hosts)
    app.add_middleware(guards.SecurityHeaders)
    app.add_exception_handler(Exception, _internal_error)
    app.state.recognizer, app.state.limits = recognizer, limits

    @app.post("/api/predict", response_model=PredictResult, responses=_ERRORS, openapi_extra=_PREDICT_BODY)
    async def predict(request: Request):
        """Recognize the digit in an image: a multipart `file`, or JSON `{"image": base64 or data URL}`."""
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
        x = await anyio.to_thread.run_sync(prepare, data, source, limiter=decodes)
        result = recognizer.to_prediction((await run_in_threadpool(recognizer.classify, x[None]))[0])
        return {"label": result.label, "confidence": result.confidence, "probabilities": list(result.probabilities),
                "input": x.round(3).tolist(), "model": info["name"]}

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


def serve(model=None, host="127.0.0.1", port=8000, limits=LIMITS):
    """Run the web app with uvicorn until interrupted (see `create_app` for `model` and `limits`).

    On a loopback address the app answers only to the loopback names
    (`guards.LOOPBACK_HOSTS` and `host`), against DNS rebinding; on any other
    address, to any `Host`.
    """
    import uvicorn

    hosts = (*LOOPBACK_HOSTS, host) if guards.is_loopback(host) else None
    app = create_app(model, limits=limits, hosts=hosts)
    uvicorn.run(app, host=host, port=port, log_level="info", **guards.uvicorn_settings(limits))
