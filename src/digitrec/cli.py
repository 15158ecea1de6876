"""The `digitrec` command: train, evaluate, predict, read, calibrate, report, serve, export, bench.

Every failure a user can cause ends as one line on stderr, `digitrec: error: ...`
(`digitrec VERB: error: ...` for a bad argument, exit status 2), and a non-zero
exit status, never a traceback. Native log lines (TensorFlow's C++ logging)
are kept off the terminal unless `--verbose` or `DIGITREC_VERBOSE=1` asks
for them (see `digitrec._stderr`).
"""

import argparse
import contextlib
import functools
import json
import math
import os
import sys


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose usage errors are one line, with a pointer to `--help`."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (try '{self.prog} --help')\n")


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
_ratio = _number(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_port = _number(int, lambda v: 0 <= v <= 65535, "a port number in [0, 65535]")


_MODEL_FORMS = "a .keras file, a run folder, or 'bundled' for the bundled model"
_ANY_MODEL = "a .keras, .onnx or .tflite file, a run folder, or 'bundled' (default: bundled)"


def _add_data_dir(p):
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITREC_DATA_DIR or ~/.cache/digitrec)")


def build_parser():
    verbose = "also show TensorFlow's native log lines (or set DIGITREC_VERBOSE=1)"
    parser = _Parser(prog="digitrec", description="Handwritten digit recognition with a CNN.")
    parser.add_argument("--verbose", action="store_true", help=verbose)
    common = argparse.ArgumentParser(add_help=False)  # --verbose after the verb too
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose)
    sub = parser.add_subparsers(dest="command", required=True)
    verb = functools.partial(sub.add_parser, parents=[common])

    p = verb("train", help="train a registered model on MNIST")
    p.add_argument("--model", default="fast", help="registry name (fast, baseline, tutorial, robust)")
    p.add_argument("--epochs", type=_positive_int, help="maximum epochs (default: the recipe's)")
    p.add_argument("--batch-size", type=_positive_int, help="images per step (default: the recipe's)")
    p.add_argument("--learning-rate", type=_positive_float, help="Adam learning rate (default: the recipe's)")
    p.add_argument("--val-split", type=_fraction, help="validation share of the training set (default: the recipe's)")
    p.add_argument("--patience", type=_non_negative_int,
                   help="early-stopping patience in epochs; 0 disables (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (split, batches, weights)")
    p.add_argument("--split-seed", type=int, help="the validation split's seed alone (default: --seed): another "
                                                  "--seed on the same split trains a second model for an ensemble")
    p.add_argument("--train-size", type=_positive_int, help="train on a stratified subset of this many images")
    p.add_argument("--out", help="run folder (default: runs/<timestamp>-<model>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an --out folder that holds files (swapped in when the new run is complete)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in --out from its last finished epoch")
    p.add_argument("--init", help=f"start from this model (fine-tuning) instead of new weights: {_MODEL_FORMS}")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="train on distorted images (default: the recipe's choice)")
    p.add_argument("--outlier-exposure", type=_ratio, metavar="RATIO",
                   help="add RATIO generated non-digits per training digit, trained towards the uniform "
                        "distribution, and calibrate the 'not a digit' threshold (default: the recipe's, 0)")
    p.add_argument("--freeze", type=_positive_int, metavar="N",
                   help="with --init: keep the first N layers and every BatchNormalization fixed, and fine-tune "
                        "the rest (default: train every layer)")
    _add_data_dir(p)

    p = verb("evaluate", help="score a saved model on the 10,000 MNIST test images")
    p.add_argument("--model", help=_ANY_MODEL)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _add_data_dir(p)

    p = verb("bench", help="time, accuracy and memory of each recipe, side by side on this machine")
    p.add_argument("--runtimes", action="store_true",
                   help="instead, compare Keras, ONNX Runtime and LiteRT (float and int8) on one trained model")
    p.add_argument("--serve", action="store_true", help="instead, load-test `digitrec serve` on 127.0.0.1 with 1 and "
                                                         "8 clients, batch 1 beside dynamic batching")
    p.add_argument("--predict", action="store_true", help="instead, images/s of `digitrec predict` on 10,000 PNG "
                                                           "files with 1 and 2 worker processes")
    p.add_argument("--robustness", action="store_true",
                   help="instead, read MNIST test digits rendered as every kind of real input (tiny scans, forms, "
                        "canvases, phone photos, noise) through the whole predict path, per family")
    p.add_argument("--n", type=_positive_int, help="with --robustness: digits per family (default: 1,000; "
                                                  "with --quick: 200)")
    p.add_argument("--model", help=f"with --runtimes, --serve, --predict or --robustness: the model, {_MODEL_FORMS} "
                                   "(default: bundled)")
    p.add_argument("--quick", action="store_true", help="a smoke test: 1 epoch on 2,000 images, 1 seed "
                                                        "(with --runtimes: 20 latency samples, 1 start-up run)")
    p.add_argument("--out", help="also write the results as JSON to this file")
    p.add_argument("--plot", help="also draw test accuracy against training seconds into this PNG file")
    p.add_argument("--recipes", help="comma-separated registry names (default: fast,strong,baseline)")
    p.add_argument("--seeds", type=_positive_int, default=3, help="training runs per recipe")
    _add_data_dir(p)

    p = verb("predict", help="recognize the digit in image files (photos, scans, drawings)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--model", help=_ANY_MODEL)
    p.add_argument("--top-k", type=_positive_int, default=3, help="how many ranked guesses to report")
    p.add_argument("--min-confidence", type=_fraction, default=0.0,
                   help="below this probability the label is null and the result is marked uncertain")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--workers", type=_positive_int,
                   help="processes that decode and normalize images (default: the number of cores)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine's cores; ray: Ray Data, on a local or remote Ray cluster "
                        "(pip install 'digitrec[scale]')")
    p.add_argument("--address", help="with --engine ray: the Ray cluster to join (default: start a local one)")
    p.add_argument("--output", metavar="DIR", help="with --engine ray: write the results to this folder "
                                                   "(or object-store URI) instead of printing them")
    p.add_argument("--format", choices=("json", "parquet"), default="json",
                   help="with --output: JSON lines or Parquet files (default: json)")

    p = verb("read", help="read handwritten numbers (several digits side by side) in image files")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--model", help=_ANY_MODEL)
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = verb("calibrate", help="calibrate a model's 'not a digit' threshold and measure its rejection rates")
    p.add_argument("--model", required=True, help=_MODEL_FORMS)
    p.add_argument("--reject", type=_fraction, help="share of validation digits to reject (default: 0.003)")
    p.add_argument("--dev", metavar="NPZ", help="also measure on real digits: an .npz file with an 'images' "
                                                "array (e.g. realworld-dev's optdigits_dev.npz)")
    _add_data_dir(p)

    p = verb("report", help="figures and an HTML page of what a model learned")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("run", nargs="?", metavar="RUN_DIR", help="run folder written by `digitrec train`")
    which.add_argument("--model", help=f"{_MODEL_FORMS}; no training curves")
    p.add_argument("--out", help="output folder (default: RUN_DIR/report, or reports/<model file name>)")
    _add_data_dir(p)

    p = verb("serve", help="web app: draw a digit or a number in the browser and see the reading; REST API")
    p.add_argument("--model", help=_ANY_MODEL)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000)")
    p.add_argument("--workers", type=_non_negative_int, help="processes that decode and normalize requests "
                                                             "(default: the number of cores; 0: threads)")
    p.add_argument("--max-batch", type=_positive_int, default=32,
                   help="most concurrent requests classified in one model call (default: 32; 1: no batching)")

    p = verb("export", help="write a model as ONNX or LiteRT, to run without TensorFlow")
    p.add_argument("--model", required=True, help=_MODEL_FORMS)
    p.add_argument("--format", required=True, help="onnx (.onnx file) or litert (.tflite file)")
    p.add_argument("--quantize", metavar="int8", help="litert only: full-integer post-training quantization, "
                                                      "calibrated on 500 training images")
    p.add_argument("--out", required=True, help="the file to write (.onnx or .tflite)")
    _add_data_dir(p)
    return parser


def _cmd_train(args):
    from digitrec import runs, training

    out = training.train(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        val_split=args.val_split, patience=training.KEEP if args.patience is None else args.patience,
        seed=args.seed, data_dir=args.data_dir, out=args.out, train_size=args.train_size, init=args.init,
        augment=args.augment, overwrite=args.overwrite, outlier_exposure=args.outlier_exposure,
        freeze=args.freeze, resume=args.resume, split_seed=args.split_seed,
    )
    _print_summary(runs.read_metrics(out))
    print(f"run folder: {out}")


def _print_summary(m):
    rows = [("accuracy", f"{m['accuracy']:.2%}"), ("recall (macro)", f"{m['recall_macro']:.2%}"),
            ("precision (macro)", f"{m['precision_macro']:.2%}"), ("F1 (macro)", f"{m['f1_macro']:.2%}"),
            ("loss", f"{m['loss']:.4f}"), ("test images", f"{m['n_test']:,}"),
            ("parameters", "unknown" if m["params"] is None else f"{m['params']:,}")]
    if "train_seconds" in m:
        rows += [("epochs run", str(m["epochs_run"])), ("training time", f"{m['train_seconds']:.0f} s")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v:>10}")


def _cmd_evaluate(args):
    from digitrec import evaluation

    metrics = evaluation.evaluate(args.model, args.data_dir)
    if args.json:
        print(json.dumps(metrics))
    else:
        _print_summary(metrics)


def _cmd_predict(args):
    from digitrec import parallel, runs
    from digitrec.errors import DigitrecError
    from digitrec.files import find_images
    from digitrec.inference import Recognizer

    if args.format != "json" and not args.output:
        raise DigitrecError("--format needs --output (the folder to write the files to)")
    if args.engine == "ray":
        from digitrec import scale

        return scale.run_cli(args)
    if args.address or args.output:
        raise DigitrecError("--address and --output need --engine ray")
    files = list(find_images(args.paths))  # (path, None or why it cannot be read)
    if not files:
        raise DigitrecError(f"no image files found in {', '.join(args.paths)}")
    model = runs.model_path(runs.serving_model(args.model))  # checked now; loaded (seconds) when the first image needs it
    progress = None
    if model.suffix == ".keras" and len(files) >= 20 and sys.stderr.isatty() and not args.json:
        import keras  # the model needs it anyway; an .onnx or .tflite model never imports it

        progress = keras.utils.Progbar(len(files), unit_name="image")
    failed = 0
    _print_header(args)
    for path, outcome in parallel.predict_files(files, lambda: Recognizer(model), args.workers):
        result = parallel.record(path, outcome, args.top_k, args.min_confidence)
        failed += "error" in result
        _print_result(result, args)
        if progress:
            progress.add(1)
    return 1 if failed else 0


def _print_header(args):
    if not args.json:
        print(f"{'path':<40} {'label':>5} {'confidence':>10} {'digit score':>11}  top-{args.top_k}")


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
    from digitrec import runs
    from digitrec.errors import DigitrecError, ModelError, item_error
    from digitrec.files import find_images
    from digitrec.inference import Recognizer

    files = list(find_images(args.paths))  # (path, None or why it cannot be read)
    if not files:
        raise DigitrecError(f"no image files found in {', '.join(args.paths)}")
    model, recognizer = runs.model_path(runs.serving_model(args.model)), None  # loaded (seconds) when the first image needs it
    if not args.json:
        print(f"{'path':<40} {'text':>10} {'confidence':>10}  digits (label:confidence, ? = not a digit)")
    failed = 0
    for path, error in files:
        try:
            if error:
                raise DigitrecError(error)
            recognizer = recognizer or Recognizer(model)
            result = {"path": str(path), **recognizer.read(path).as_dict()}
        except ModelError:
            raise  # the model's fault, not this file's: it would fail on every file
        except Exception as e:  # noqa: BLE001 (one bad file never stops a batch)
            result, failed = {"path": str(path), "error": item_error(e, path)}, failed + 1
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{result['path']:<40} error: {result['error']}", flush=True)
        else:
            digits = " ".join(f"{'?' if d['label'] is None else d['label']}:{d['confidence']:.3f}"
                              for d in result["digits"])
            note = f"  ({result['rejected']})" if "rejected" in result else ""
            print(f"{result['path']:<40} {result['text']:>10} {result['confidence']:>10.3f}  {digits}{note}", flush=True)
    return 1 if failed else 0


def _cmd_calibrate(args):
    import numpy as np

    from digitrec import rejection, runs
    from digitrec.errors import DigitrecError
    from digitrec.inference import Recognizer
    from digitrec.models import load_model

    path = runs.model_path(args.model)
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
    from digitrec import _atomic

    log = functools.partial(print, file=sys.stderr, flush=True)
    if args.serve or args.predict:
        from digitrec import bench_scale

        run, show = ((bench_scale.serve_load, bench_scale.format_serve) if args.serve
                     else (bench_scale.predict_rate, bench_scale.format_predict))
        result = run(args.model, data_dir=args.data_dir, quick=args.quick, log=log)
        print(show(result))
        if args.out:
            _atomic.write_json(args.out, result)
            print(f"results: {args.out}")
        return 0
    if args.robustness:
        from pathlib import Path

        from digitrec import plots
        from digitrec import robustness as bench

        result = bench.run(args.n or (bench.QUICK_N if args.quick else 1000), model=args.model,
                           data_dir=args.data_dir, log=log)
        out = Path(args.out or "robustness.json")
        figure = out.with_suffix(".png")
        plots.save_figure(bench.plot_examples(result), figure)
        result = {**result, "examples": None, "figure": figure.name}
    elif args.runtimes:
        from digitrec import bench_runtimes as bench

        result = bench.run(args.model, quick=args.quick, data_dir=args.data_dir, log=log)
        out = args.out
    else:
        from digitrec import bench

        recipes = [name.strip() for name in args.recipes.split(",") if name.strip()] if args.recipes else None
        result = bench.run(recipes or bench.DEFAULT_RECIPES, seeds=args.seeds, quick=args.quick,
                           data_dir=args.data_dir, log=log)
        out = args.out
    print(bench.format_table(result))
    if out:
        _atomic.write_json(out, result)
        print(f"results: {out}" + (f" and {figure}" if args.robustness else ""))
    if args.plot and not (args.robustness or args.runtimes):
        from digitrec import plots

        curves = {name: r["curve"] for name, r in result["recipes"].items()}
        print(f"plot: {plots.save_figure(plots.plot_time_to_accuracy(curves), args.plot)}")
    return 1 if args.robustness and not all(r["passed"] for r in result["families"].values()) else 0


def _cmd_report(args):
    from digitrec.reporting import write_report

    print(f"report: {write_report(args.run, model=args.model, out=args.out, data_dir=args.data_dir)}")


def _cmd_serve(args):
    from digitrec import server

    server.serve(args.model, host=args.host, port=args.port, workers=args.workers, max_batch=args.max_batch)


def _cmd_export(args):
    from digitrec import export

    out = export.export(args.model, args.out, args.format, args.quantize, args.data_dir)
    kind = f"{args.format}, {args.quantize or 'float32'}"
    print(f"exported: {out} ({out.stat().st_size / 2**20:.2f} MiB, {kind})")


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "predict": _cmd_predict, "read": _cmd_read,
            "calibrate": _cmd_calibrate, "report": _cmd_report, "serve": _cmd_serve, "bench": _cmd_bench,
            "export": _cmd_export}


def main(argv=None):
    """Run the CLI; returns the process exit status."""
    args = build_parser().parse_args(argv)
    verbose = args.verbose or os.environ.get("DIGITREC_VERBOSE", "") not in ("", "0")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from digitrec import _stderr
    from digitrec.errors import DigitrecError, missing_extra

    with contextlib.nullcontext() if verbose else _stderr.filter_native_logs():
        try:
            return COMMANDS[args.command](args) or 0
        except (DigitrecError, ValueError, OSError) as e:
            print(f"digitrec: error: {e}", file=sys.stderr)
            return 1
        except ModuleNotFoundError as e:  # an optional dependency: name the extra that brings it
            error = missing_extra(e, f"digitrec {args.command}")
            if error is None:
                raise
            print(f"digitrec: error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("digitrec: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
