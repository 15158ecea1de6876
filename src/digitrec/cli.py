"""The `digitrec` command: train, evaluate, predict, read, report, serve.

Every failure a user can cause ends as one line on stderr, `digitrec: error: ...`,
and a non-zero exit status, never a traceback.
"""

import argparse
import json
import os
import sys


def _number(cast, check, expected):
    """An argparse type: `cast(text)` that must pass `check`, else a one-line usage error."""

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_port = _number(int, lambda v: 0 <= v <= 65535, "a port number in [0, 65535]")


def _add_data_dir(p):
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITREC_DATA_DIR or ~/.cache/digitrec)")


def build_parser():
    parser = argparse.ArgumentParser(prog="digitrec", description="Handwritten digit recognition with a CNN.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a registered model on MNIST")
    p.add_argument("--model", default="fast", help="registry name (fast, seed, tutorial, robust)")
    p.add_argument("--epochs", type=_positive_int, help="maximum epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=_positive_int, help="images per step (default: the recipe's)")
    p.add_argument("--learning-rate", type=_positive_float, help="Adam learning rate (default: the recipe's)")
    p.add_argument("--val-split", type=_fraction, help="validation share of the training set (default: the recipe's)")
    p.add_argument("--patience", type=int, default=-1, help="early-stopping patience in epochs; 0 disables")
    p.add_argument("--seed", type=int, default=0, help="random seed (split, batches, weights)")
    p.add_argument("--train-size", type=_positive_int, help="train on a stratified subset of this many images")
    p.add_argument("--out", help="run folder (default: runs/<timestamp>-<model>)")
    p.add_argument("--init", help="start from this saved .keras model (fine-tuning) instead of new weights")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="train on distorted images (default: the recipe's choice)")
    p.add_argument("--outlier-exposure", type=_number(float, lambda v: v >= 0, "a number >= 0"), metavar="RATIO",
                   help="add RATIO generated non-digits per training digit, trained towards the uniform "
                        "distribution, and calibrate the 'not a digit' threshold (default: the recipe's, 0)")
    _add_data_dir(p)

    p = sub.add_parser("evaluate", help="score a saved model on the 10,000 MNIST test images")
    p.add_argument("--model", required=True, help="path of a .keras model file or a run folder")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_data_dir(p)

    p = sub.add_parser("bench", help="time, accuracy and memory of each recipe, side by side on this machine")
    p.add_argument("--quick", action="store_true", help="a smoke test: 1 epoch on 2,000 images, 1 seed")
    p.add_argument("--out", help="also write the results as JSON to this file")
    p.add_argument("--recipes", help="comma-separated registry names (default: fast,seed,tutorial)")
    p.add_argument("--seeds", type=_positive_int, default=3, help="training runs per recipe")
    _add_data_dir(p)

    p = sub.add_parser("predict", help="recognize the digit in image files (photos, scans, drawings)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--model", help="a .keras model file or run folder (default: the bundled model)")
    p.add_argument("--top-k", type=_positive_int, default=3, help="how many ranked guesses to report")
    p.add_argument("--min-confidence", type=_fraction, default=0.0,
                   help="below this probability the label is null and the result is marked uncertain")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("read", help="read handwritten numbers (several digits) in image files")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--model", help="a .keras model file or run folder (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("calibrate", help="calibrate a model's 'not a digit' threshold and measure its rejection rates")
    p.add_argument("--model", required=True, help="a .keras model file or run folder, or 'bundled'")
    p.add_argument("--reject", type=_fraction, default=None,
                   help="share of validation digits to reject (default: 0.005; the threshold file is rewritten)")
    p.add_argument("--dev", metavar="NPZ", help="also measure on real digits: an .npz with 'images' (e.g. "
                                                "realworld-dev's optdigits_dev.npz)")
    _add_data_dir(p)

    p = sub.add_parser("report", help="figures and an HTML page of what a model learned")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("run", nargs="?", metavar="RUN_DIR", help="run folder written by `digitrec train`")
    which.add_argument("--model", help="a .keras file, or 'bundled' for the bundled model (no training curves)")
    p.add_argument("--out", help="output folder (default: RUN_DIR/report, or reports/<model file name>)")
    _add_data_dir(p)

    p = sub.add_parser("serve", help="web app: draw a digit in the browser and see the prediction; REST API")
    p.add_argument("--model", help="a .keras model file or run folder (default: the bundled model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000)")
    return parser


def _model_path(path):
    return os.path.join(path, "model.keras") if os.path.isdir(path) else path


def _cmd_train(args):
    from digitrec import training

    out = training.train(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        val_split=args.val_split, patience=args.patience, seed=args.seed, data_dir=args.data_dir,
        out=args.out, train_size=args.train_size, init=args.init, augment=args.augment,
        outlier_exposure=args.outlier_exposure,
    )
    _print_summary(training.read_metrics(out))
    print(f"run folder: {out}")


def _print_summary(m):
    rows = [("accuracy", f"{m['accuracy']:.2%}"), ("recall (macro)", f"{m['recall_macro']:.2%}"),
            ("precision (macro)", f"{m['precision_macro']:.2%}"), ("F1 (macro)", f"{m['f1_macro']:.2%}"),
            ("loss", f"{m['loss']:.4f}"), ("test images", f"{m['n_test']:,}"), ("parameters", f"{m['params']:,}")]
    if "train_seconds" in m:
        rows += [("epochs run", str(m["epochs_run"])), ("training time", f"{m['train_seconds']:.0f} s")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v:>10}")


def _cmd_evaluate(args):
    from digitrec import evaluation

    metrics = evaluation.evaluate(_model_path(args.model), args.data_dir)
    if args.json:
        print(json.dumps(metrics))
    else:
        _print_summary(metrics)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _image_files(paths):
    """Expand folders (recursively, image suffixes only, sorted); keep files as given."""
    from pathlib import Path

    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            yield path


def _cmd_predict(args):
    import numpy as np

    from digitrec.errors import DigitrecError
    from digitrec.inference import Recognizer

    files = list(_image_files(args.paths))
    if not files:
        raise DigitrecError(f"no image files found in {', '.join(args.paths)}")
    recognizer = Recognizer(_model_path(args.model) if args.model else None)
    progress = None
    if len(files) >= 20 and sys.stderr.isatty() and not args.json:
        import keras

        progress = keras.utils.Progbar(len(files), unit_name="image")
    failed = 0
    if not args.json:
        print(f"{'path':<40} {'label':>5} {'confidence':>10} {'digit score':>11}  top-{args.top_k}")
    for start in range(0, len(files), 64):
        chunk, normalized, results = files[start : start + 64], [], {}
        for path in chunk:
            try:
                normalized.append((path, recognizer.preprocess(path)))
            except DigitrecError as e:
                results[path] = {"path": str(path), "error": str(e)}
        if normalized:
            probabilities = recognizer.classify(np.stack([n for _, n in normalized]))
            for (path, _), p in zip(normalized, probabilities):
                results[path] = _result_dict(path, recognizer.to_prediction(p), args)
        for path in chunk:
            failed += "error" in results[path]
            _print_result(results[path], args)
        if progress:
            progress.add(len(chunk))
    return 1 if failed else 0


def _result_dict(path, prediction, args):
    result = {"path": str(path), "label": prediction.label, "confidence": prediction.confidence,
              "digit_score": prediction.digit_score, "probabilities": list(prediction.probabilities),
              "top_k": [{"label": k, "probability": v} for k, v in prediction.top_k(args.top_k)]}
    if prediction.rejected:
        result["rejected"] = prediction.rejected
    elif prediction.confidence < args.min_confidence:
        result.update(label=None, uncertain=True)
    return result


def _print_result(result, args):
    if args.json:
        print(json.dumps(result), flush=True)
    elif "error" in result:
        print(f"{result['path']:<40} error: {result['error']}")
    else:
        label = "?" if result["label"] is None else str(result["label"])
        top = "  ".join(f"{t['label']}:{t['probability']:.3f}" for t in result["top_k"])
        note = f"  ({result['rejected']})" if "rejected" in result else ""
        print(f"{result['path']:<40} {label:>5} {result['confidence']:>10.3f} {result['digit_score']:>11.3f}  {top}{note}")


def _cmd_read(args):
    from digitrec.errors import DigitrecError
    from digitrec.inference import Recognizer

    files = list(_image_files(args.paths))
    if not files:
        raise DigitrecError(f"no image files found in {', '.join(args.paths)}")
    recognizer = Recognizer(_model_path(args.model) if args.model else None)
    if not args.json:
        print(f"{'path':<40} {'text':>10} {'confidence':>10}  digits (label:confidence, ? = not a digit)")
    failed = 0
    for path in files:
        try:
            result = {"path": str(path), **recognizer.read(path).as_dict()}
        except DigitrecError as e:
            result, failed = {"path": str(path), "error": str(e)}, failed + 1
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{result['path']:<40} error: {result['error']}", flush=True)
        else:
            digits = " ".join(f"{'?' if d['label'] is None else d['label']}:{d['confidence']:.3f}"
                              for d in result["digits"])
            print(f"{result['path']:<40} {result['text']:>10} {result['confidence']:>10.3f}  {digits}", flush=True)
    return 1 if failed else 0


def _cmd_calibrate(args):
    import numpy as np

    from digitrec import rejection
    from digitrec.errors import DigitrecError
    from digitrec.inference import BUNDLED_MODEL, Recognizer
    from digitrec.models import load_model

    path = BUNDLED_MODEL if args.model == "bundled" else _model_path(args.model)
    model = load_model(path)
    reject = rejection.REJECT_DIGITS if args.reject is None else args.reject
    calibration = rejection.calibrate_model(model, rejection.validation_images(path, args.data_dir), reject)
    dev = None
    if args.dev:
        with np.load(args.dev, allow_pickle=False) as f:
            if "images" not in f:
                raise DigitrecError(f"{args.dev}: no 'images' array in it")
            dev = f["images"]
    rates = rejection.measure(Recognizer(model, calibration["threshold"]), args.data_dir, dev)
    written = rejection.write_threshold(path, calibration, measured=rates)
    print(f"threshold (digit score)      {calibration['threshold']:.4f}")
    print(f"{'MNIST validation digits':<40} {calibration['rejected']:>7.2%} rejected ({calibration['n']:,} images)")
    for name, rate in rates.items():
        print(f"{name:<40} {rate:>7.2%} rejected")
    print(f"threshold file: {written}")


def _cmd_bench(args):
    from digitrec import _atomic, bench

    recipes = [name.strip() for name in args.recipes.split(",") if name.strip()] if args.recipes else None
    result = bench.run(recipes or bench.DEFAULT_RECIPES, seeds=args.seeds, quick=args.quick, data_dir=args.data_dir,
                       log=lambda line: print(line, file=sys.stderr, flush=True))
    print(bench.format_table(result))
    if args.out:
        _atomic.write_json(args.out, result)
        print(f"results: {args.out}")


def _cmd_report(args):
    from digitrec.reporting import write_report

    print(f"report: {write_report(args.run, model=args.model, out=args.out, data_dir=args.data_dir)}")


def _cmd_serve(args):
    from digitrec.errors import DigitrecError

    try:
        from digitrec import server
    except ImportError as e:
        raise DigitrecError(f"serve needs the web extras ({e}): pip install 'digitrec[serve]'") from None
    server.serve(_model_path(args.model) if args.model else None, host=args.host, port=args.port)


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict, "read": _cmd_read,
            "calibrate": _cmd_calibrate, "report": _cmd_report, "serve": _cmd_serve, "bench": _cmd_bench}


def main(argv=None):
    """Run the CLI; returns the process exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    from digitrec.errors import DigitrecError

    try:
        return COMMANDS[args.command](args) or 0
    except (DigitrecError, ValueError, OSError) as e:
        print(f"digitrec: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("digitrec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
