"""What a model learned, on one self-contained HTML page.

    digitrec report runs/my-run              # -> runs/my-run/report/index.html
    digitrec report --model my.keras         # -> reports/my/index.html
    digitrec report --model bundled          # -> reports/default/index.html

`write_report` scores the model on the 10,000 MNIST test images and writes,
next to `index.html` (every figure embedded as a data URL, so the page
travels alone), the figures of `digitrec.plots` as PNGs:

    training_curves.png   loss and accuracy per epoch (run folders only)
    samples.png           training digits, one row per class
    predictions.png       random test digits, green when right, red when wrong
    confusion_matrix.png  true vs predicted digit, every count written out
    mistakes.png          the most confident wrong predictions
    per_class.png         precision and recall per digit
"""

import base64
import html
import json
from pathlib import Path

import numpy as np

from digitrec import _atomic, data, evaluation, plots, runs
from digitrec.errors import ModelError

CAPTIONS = {
    "training_curves.png": "Loss and accuracy per epoch on the training and validation images.",
    "samples.png": "Training digits, one row per class (28x28 pixels each, drawn dark on white).",
    "predictions.png": "Random test digits with the predicted label: green when right, red when wrong "
                       "(with the true label).",
    "confusion_matrix.png": "Confusion matrix: rows are the true digits, columns the predicted digits; "
                            "the colour scale is logarithmic.",
    "mistakes.png": "The wrong predictions the model was most sure of, with the probability it gave "
                    "the predicted digit.",
    "per_class.png": "Precision (of the images predicted as a digit, the share that are it) and recall "
                     "(of the images of a digit, the share found) per digit.",
}

_STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 1240px; margin: 0 auto; padding: 1rem 1.5rem 3rem; background: #fff; }
h1 { margin-top: 0.5rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
th, td { border: 1px solid #d0d7de; padding: 0.25rem 0.7rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #57606a; }
pre { font-size: 13px; line-height: 1.15; overflow-x: auto; background: #f6f8fa; padding: 0.8rem; }
.note { background: #fff8c5; border: 1px solid #d4a72c; padding: 0.5rem 0.8rem; }
"""


def _resolve(run_dir, model, out):
    """(model path, run folder or None, output folder) from the arguments of `write_report`."""
    if (run_dir is None) == (model is None):
        raise ValueError("give either a run folder or a model file, not both or neither")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise ModelError(f"{run_dir}: not a folder (a run folder from `digitrec train`, or use --model FILE)")
        return runs.model_path(run_dir), run_dir, Path(out) if out else run_dir / "report"
    model = runs.model_path(model)
    return model, None, Path(out) if out else Path("reports") / model.stem


def _model_summary(net):
    lines = []
    net.summary(print_fn=lambda text, **_: lines.append(text))
    return "\n".join(lines).rstrip()


def _table(rows, header=None, numeric=True, caption=None):
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header) if header else ""
    out = [f"<table>{f'<caption>{html.escape(caption)}</caption>' if caption else ''}"
           f"{f'<thead><tr>{cells}</tr></thead>' if header else ''}<tbody>"]
    for name, *values in rows:
        tds = "".join(f'<td{" class=num" if numeric else ""}>{html.escape(str(v))}</td>' for v in values)
        out.append(f"<tr><th scope=row>{html.escape(str(name))}</th>{tds}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _metrics_rows(m):
    cm = np.asarray(m["confusion_matrix"])
    seconds = m.get("train_seconds")
    return [
        ("accuracy", f"{m['accuracy']:.2%}"),
        ("recall (macro)", f"{m['recall_macro']:.2%}"),
        ("precision (macro)", f"{m['precision_macro']:.2%}"),
        ("F1 (macro)", f"{m['f1_macro']:.2%}"),
        ("loss (cross-entropy)", f"{m['loss']:.4f}"),
        ("test images", f"{m['n_test']:,}"),
        ("wrong predictions", f"{int(cm.sum() - np.trace(cm)):,}"),
        ("parameters", f"{m['params']:,}"),
        ("epochs run", str(m.get("epochs_run", "n/a"))),
        ("training time", f"{seconds:.0f} s" if seconds is not None else "n/a"),
    ]


def _page(title, source, metrics, config, summary, pngs, missing):
    precision, recall, _ = evaluation.per_class_scores(metrics["confusion_matrix"])
    per_class = [(d, f"{n:,}", f"{p:.2%}", f"{r:.2%}")
                 for d, (n, p, r) in enumerate(zip(np.sum(metrics["confusion_matrix"], axis=1), precision, recall))]
    figures = []
    for name, caption in CAPTIONS.items():
        if name in pngs:
            data_url = "data:image/png;base64," + base64.b64encode(pngs[name]).decode("ascii")
            figures.append(
                f'<figure id="{name[:-4]}"><img src="{data_url}" alt="{html.escape(caption)}">'
                f'<figcaption>{html.escape(caption)} (<a href="{name}">{name}</a>)</figcaption></figure>')
        else:
            figures.append(f'<p class="note">No {name}: {html.escape(missing[name])}</p>')
    if config:
        settings = _table([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in config.items()], numeric=False)
    else:
        settings = '<p class="note">No training configuration: a model file, not a run folder with config.json.</p>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>{html.escape(title)}</h1>
<p>Model <code>{html.escape(str(source))}</code>, scored on the {metrics['n_test']:,} MNIST test images,
which training never sees.</p>
<h2 id="scores">Test scores</h2>
<div class="tables">
{_table(_metrics_rows(metrics), caption="All digits")}
{_table(per_class, header=("digit", "test images", "precision", "recall"), caption="Per digit")}
</div>
<h2 id="figures">Figures</h2>
{chr(10).join(figures)}
<h2 id="config">Training configuration</h2>
{settings}
<h2 id="model">Model summary</h2>
<pre>{html.escape(summary)}</pre>
</main>
</body>
</html>
"""


def write_report(run_dir=None, *, model=None, out=None, data_dir=None):
    """Score a model on the MNIST test set and write its figures and an HTML page.

    Args:
        run_dir: str or Path of a run folder written by `digitrec train`; it
            needs `model.keras` and uses `history.csv`, `config.json` and
            `metrics.json` (training time, epochs) where present.
        model: instead of `run_dir`, a `.keras` file, or "bundled" for the
            bundled model (see `digitrec.runs.model_path`). There is no
            history then, so no training curves.
        out: output folder, created if missing; default `run_dir/report`,
            or `reports/<model file stem>` (relative to the working folder).
        data_dir: MNIST folder (see `digitrec.data.load_split`).

    Returns:
        Path of `out/index.html`; the PNGs lie next to it. Every file is
        written atomically.

    Raises:
        ModelError: no `model.keras` in `run_dir`, the model cannot be
            loaded, or a malformed `metrics.json` or `config.json`.
        DatasetError: the MNIST files are missing or corrupt.
        ValueError: both or neither of `run_dir` and `model`, or a malformed
            `history.csv`.
    """
    model_path, run_dir, out = _resolve(run_dir, model, out)
    from digitrec.models import load_model  # deferred: importing Keras takes seconds

    net = load_model(model_path)
    images, labels, probabilities = evaluation.predict_test_set(net, data_dir)
    metrics = {**evaluation.scores(probabilities, labels), "params": int(net.count_params())}
    config, figures, missing = {}, {}, {}
    history = run_dir / "history.csv" if run_dir else None
    if run_dir and (run_dir / "metrics.json").is_file():  # scores are fresh; training facts come from here
        stored = runs.read_metrics(run_dir)
        metrics.update({k: stored[k] for k in ("train_seconds", "epochs_run") if k in stored})
    if run_dir and (run_dir / "config.json").is_file():
        config = runs.read_config(run_dir)
    if history and history.is_file():
        figures["training_curves.png"] = plots.plot_training_curves(history, restored=bool(config.get("patience")))
        metrics.setdefault("epochs_run", len(plots.read_history(history)["epoch"]))
    else:
        missing["training_curves.png"] = (f"{run_dir} has no history.csv." if run_dir else
                                          "training curves need a run folder's history.csv, and this report "
                                          "is of a model file.")
    figures["samples.png"] = plots.plot_samples(*data.load_split("train", data_dir))
    figures["predictions.png"] = plots.plot_predictions(images, labels, probabilities)
    figures["confusion_matrix.png"] = plots.plot_confusion_matrix(metrics["confusion_matrix"])
    figures["mistakes.png"] = plots.plot_mistakes(images, labels, probabilities)
    figures["per_class.png"] = plots.plot_per_class(metrics["confusion_matrix"])
    pngs = {name: plots.save_figure(fig, out / name).read_bytes() for name, fig in figures.items()}

    name = run_dir.resolve().name if run_dir else model_path.name
    page = _page(f"digitrec report: {name}", model_path, metrics, config, _model_summary(net), pngs, missing)
    _atomic.write_text(out / "index.html", page)
    return out / "index.html"
