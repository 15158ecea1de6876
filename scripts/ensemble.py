"""Save the deep ensemble of saved models: one `.keras` model answering the mean of their probabilities.

    .venv/bin/python scripts/ensemble.py OUT.keras MODEL MODEL [MODEL ...]

Each MODEL is a `.keras` file or run folder (`digitrec.models.load_model`); see `digitrec.models.ensemble`.
Calibrate its "not a digit" threshold after (`digitrec calibrate --model OUT.keras`).
"""

import sys

from digitrec import _atomic, models


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    net = models.ensemble([models.load_model(m) for m in sys.argv[2:]])
    with _atomic.atomic_path(sys.argv[1], suffix=".keras") as tmp:
        net.save(tmp)
    print(f"{sys.argv[1]}: {len(sys.argv) - 2} members, {net.count_params():,} parameters")


if __name__ == "__main__":
    main()
