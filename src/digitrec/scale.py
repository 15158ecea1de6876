"""The Ray Data engine: recognize digits in millions of files on a Ray cluster (`pip install 'digitrec[scale]'`).

    digitrec predict --engine ray [--address ADDR] [--output DIR] PATH...

    import ray, digitrec
    ds = ray.data.read_binary_files("s3://bucket/forms/", include_paths=True)
    digitrec.predict_dataset(ds).write_parquet("s3://bucket/digits/")

Files are read by Ray Data (`read_binary_files` with their paths, through
Ray's filesystems: local paths, `s3://`, `gs://`, `abfs://`, ...). Each
batch is decoded, normalized (`preprocessing.normalize`) and classified in
`map_batches` by a pool of actors, each of which loads the model once. The
rows have the fields of the local engine's records (`parallel.record`):
`path`, `label`, `confidence`, `digit_score`, `probabilities`, `top_k`,
`uncertain`, `rejected` and `error`; a file that cannot be decoded or holds no ink is a row with
`error` set and the prediction fields null, never a failed job.
"""

import sys
from pathlib import Path

import numpy as np

# The columns every engine writes, as an Arrow schema (built lazily: pyarrow comes with Ray).
FIELDS = ("path", "label", "confidence", "digit_score", "probabilities", "top_k", "uncertain", "rejected", "error")


def schema():
    """The `pyarrow.Schema` of `predict_dataset`'s rows (see the module docstring)."""
    import pyarrow as pa

    return pa.schema([("path", pa.string()), ("label", pa.int64()), ("confidence", pa.float64()),
                      ("digit_score", pa.float64()), ("probabilities", pa.list_(pa.float64())),
                      ("top_k", pa.list_(pa.struct([("label", pa.int64()), ("probability", pa.float64())]))),
                      ("uncertain", pa.bool_()), ("rejected", pa.string()), ("error", pa.string())])


class Predictor:
    """The `map_batches` callable: one per actor, holding one loaded model.

    Args:
        model: a model file or "bundled" (see `Recognizer`); it must exist
            at that path on every node (the bundled model comes with the
            digitrec package).
        top_k, min_confidence: as `parallel.record`.
    """

    def __init__(self, model=None, top_k=3, min_confidence=0.0):
        from digitrec.inference import Recognizer

        self.recognizer, self.top_k, self.min_confidence = Recognizer(model), top_k, min_confidence

    def __call__(self, batch):
        """A batch `{"bytes": encoded images, "path": str}` or `{"image": arrays, ...}` -> `pyarrow.Table`."""
        import pyarrow as pa

        from digitrec import parallel, preprocessing
        from digitrec.errors import item_error

        images = batch["bytes"] if "bytes" in batch else batch["image"]
        paths = batch["path"] if "path" in batch else [None] * len(images)  # null: rows without a path
        outcomes = []
        for path, image in zip(paths, images):
            try:
                source = bytes(image) if isinstance(image, (bytes, np.bytes_)) else image
                outcomes.append(parallel.normalize_source(source, name=str(path)) if isinstance(source, bytes)
                                else preprocessing.normalize_hypotheses(source))
            except Exception as e:  # noqa: BLE001 (a bad file becomes an error row, not a failed job)
                outcomes.append(item_error(e, str(path)))
        good = [x for x in outcomes if not isinstance(x, str)]
        probabilities = iter(self.recognizer.choose(good)[1])
        rows = [dict.fromkeys(FIELDS) | parallel.record(
                    path, x if isinstance(x, str) else self.recognizer.to_prediction(next(probabilities)),
                    self.top_k, self.min_confidence) for path, x in zip(paths, outcomes)]
        for row, path in zip(rows, paths):
            row["path"] = None if path is None else row["path"]
            if row["error"] is None:
                row["uncertain"] = bool(row["uncertain"])
        return pa.Table.from_pylist(rows, schema=schema())


def predict_dataset(ds, model=None, actors=None, batch_size=64, top_k=3, min_confidence=0.0):
    """Map a Ray Dataset of images to predictions, lazily (for notebooks and pipelines).

    Args:
        ds: `ray.data.Dataset` with a `bytes` column of encoded images and
            optionally a `path` column (`ray.data.read_binary_files(...,
            include_paths=True)`), or an `image` column of arrays `(H, W)` or
            `(H, W, C)` (`ray.data.read_images`, or `from_items`); without a
            `path` column (`read_images(..., include_paths=True)` has one) the
            rows' `path` is null.
        model: a model file or "bundled" (default), loaded once per actor.
        actors: most actors in the pool (default: the cluster's CPUs but one,
            which the read tasks need; the pool grows from one actor).
        batch_size: images per `map_batches` call (one model call).
        top_k, min_confidence: as in `digitrec predict`.

    Returns:
        `ray.data.Dataset` with the columns of `FIELDS` (`schema()`), one row
        per input row; a row with `error` set for an image that cannot be
        decoded or holds no ink.
    """
    import ray

    from digitrec import runs

    model = str(runs.model_path(runs.serving_model(model)))  # checked here, on the driver; actors load it
    # One CPU stays free for the read tasks: an actor pool holding every CPU would starve them (a deadlock).
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 2)) - 1)
    settings = {"model": model, "top_k": top_k, "min_confidence": min_confidence}
    return ds.map_batches(Predictor, fn_constructor_kwargs=settings, batch_size=batch_size, batch_format="numpy",
                          compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors))


def as_record(row):
    """A row of `predict_dataset` as the local engine's record (`parallel.record`): unset fields left out."""
    if row["error"] is not None:
        return {"path": row["path"], "error": row["error"]}
    record = {k: row[k] for k in FIELDS[:6]}
    if row["rejected"]:
        return record | {"rejected": row["rejected"]}
    return record | ({"uncertain": True} if row["uncertain"] else {})


def read_files(paths):
    """`ray.data.read_binary_files` of files and folders (recursively), image suffixes only in folders."""
    import ray

    from digitrec.files import IMAGE_SUFFIXES

    return ray.data.read_binary_files(list(map(str, paths)), include_paths=True,
                                      file_extensions=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))


def run_cli(args):
    """`digitrec predict --engine ray`: print records in input order, or write them to `--output`."""
    import logging

    import ray

    from digitrec import cli
    from digitrec.errors import DigitrecError

    missing = [p for p in args.paths if "://" not in p and not Path(p).exists()]
    if missing:  # found before Ray starts (seconds); object-store paths are Ray's to check
        raise DigitrecError(f"{missing[0]}: file or folder not found")
    # Ray's own notices (its token authentication, on a local instance) are shown with --verbose only
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING if args.verbose else logging.ERROR)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = sys.stderr.isatty()
        if not args.verbose:  # Ray Data's plan and timing lines; --verbose shows them
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        context.execution_options.preserve_order = True  # stdout keeps the order of the files
        ds = predict_dataset(read_files(args.paths), args.model, args.workers, top_k=args.top_k,
                             min_confidence=args.min_confidence)
        if args.output:
            getattr(ds, f"write_{args.format}")(args.output)
            print(f"results: {args.output}")
            return 0
        failed = 0
        cli._print_header(args)
        for row in ds.iter_rows():
            result = as_record(row)
            failed += "error" in result
            cli._print_result(result, args)
        return 1 if failed else 0
    finally:
        ray.shutdown()
