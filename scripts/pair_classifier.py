"""Train the two-digit classifier that `Recognizer.read` uses for touching digits (`digitrec.pairs`).

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/pair_classifier.py OUT.keras [--outlier-share F]
    .venv/bin/digitrec export --model OUT.keras --format onnx --out OUT.onnx

About 25 minutes on 2 cores; prints the accuracy on pairs of validation digits after each epoch. The
bundled `assets/pairs.keras` and `assets/pairs.onnx` were made by these two commands. Measure a model in
reading with `scripts/read_validation.py SEED --pairs OUT.keras`.
"""

import argparse

from digitrec import pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the .keras file to write")
    parser.add_argument("--outlier-share", type=float, default=pairs.OUTLIER_SHARE,
                        help=f"the share of non-digits in the training data (default {pairs.OUTLIER_SHARE})")
    args = parser.parse_args()
    pairs.train(args.out, outlier_share=args.outlier_share)


if __name__ == "__main__":
    main()
