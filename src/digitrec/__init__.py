"""digitrec: handwritten digit recognition with a convolutional neural network.

The importable API mirrors the CLI verbs:

    import digitrec
    run = digitrec.train(model="fast")                  # -> run folder (Path)
    metrics = digitrec.evaluate(run / "model.keras")    # -> dict of test scores
    [p] = digitrec.predict("photo_of_a_7.jpg")          # -> [Prediction(label=7, ...)]
    digitrec.report(run)                                # -> run/report/index.html (Path)
    digitrec.serve(port=8000)                           # web app and REST API, until Ctrl-C
    digitrec.predict_dataset(ray_dataset)               # -> Ray Dataset of predictions (the 'scale' extra)

`load_split` reads MNIST, and the `plot_*` functions (see `digitrec.plots`)
return the report's figures as `matplotlib.figure.Figure` objects.
Keras is imported only when one of these is first used.
"""

__version__ = "0.1.0"
__all__ = [
    "Prediction",
    "Recognizer",
    "evaluate",
    "load_split",
    "normalize",
    "plot_confusion_matrix",
    "plot_mistakes",
    "plot_per_class",
    "plot_predictions",
    "plot_samples",
    "plot_training_curves",
    "predict",
    "predict_dataset",
    "report",
    "save_figure",
    "serve",
    "train",
]
_PLOTS = {name for name in __all__ if name.startswith("plot_")} | {"save_figure"}  # from digitrec.plots


def predict(images, model=None):
    """Recognize digits in images with `Recognizer(model).predict(images)` (see `digitrec.inference`)."""
    from digitrec.inference import Recognizer

    return Recognizer(model).predict(images)


def __getattr__(name):
    if name in ("Recognizer", "Prediction"):
        from digitrec import inference

        return getattr(inference, name)
    if name == "train":
        from digitrec.training import train

        return train
    if name == "evaluate":
        from digitrec.evaluation import evaluate

        return evaluate
    if name == "report":
        from digitrec.reporting import write_report

        return write_report
    if name in _PLOTS:
        from digitrec import plots

        return getattr(plots, name)
    if name == "load_split":
        from digitrec.data import load_split

        return load_split
    if name == "serve":
        from digitrec.server import serve

        return serve
    if name == "predict_dataset":
        from digitrec.scale import predict_dataset

        return predict_dataset
    if name == "normalize":
        from digitrec.preprocessing import normalize

        return normalize
    raise AttributeError(f"module 'digitrec' has no attribute {name!r}")
