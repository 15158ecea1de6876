"""Summarize scripts/search-log.jsonl as the Markdown table of docs/recipe-search.md (issue 14).

    .venv/bin/python scripts/search_table.py [LOG] > table.md
    .venv/bin/python scripts/search_table.py --queue [LOG] > queue.txt   # every trial again, for run_queue.sh

Trials named NAME-s0, NAME-s1, ... are one setting with seeds 0, 1, ...; each row gives the flags that differ
from recipe_search.py's defaults, the validation accuracy after the last epoch (each seed, and the mean), the
same with test-time augmentation when measured, and the mean wall and CPU seconds of training (validation
excluded; noisy, the machine is shared).
"""

import collections
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, "scripts")
import recipe_search

DEFAULTS = vars(recipe_search.parse(["--name", "x"]))
SKIP = {"name", "log", "seed", "tta", "params", "n_train", "epoch_seconds", "epoch_cpu_seconds", "val_acc",
        "val_acc_tta", "train_seconds", "load"}


def flags(record):
    out = []
    for key, value in record.items():
        if key in SKIP or key not in DEFAULTS or value == DEFAULTS[key]:
            continue
        out.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(out) or "(defaults)"


def main():
    args = sys.argv[1:]
    queue = "--queue" in args
    args = [a for a in args if a != "--queue"]
    path = args[0] if args else "scripts/search-log.jsonl"
    if queue:
        for line in Path(path).read_text().splitlines():
            record = json.loads(line)
            tta = f" --tta {record['tta']}" if record.get("tta") else ""
            print(f"{record['name']} {flags(record).replace('(defaults)', '')} --seed {record['seed']}{tta}".replace("  ", " "))
        return
    groups = collections.OrderedDict()
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        groups.setdefault(re.sub(r"-s\d+$", "", record["name"]), []).append(record)
    print("| trial | settings (flags of `scripts/recipe_search.py`) | epochs | params | validation accuracy per seed "
          "| mean | with TTA (mean) | training s (wall / CPU, mean) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, records in groups.items():
        accs = [r["val_acc"][-1] for r in records]
        tta = [r["val_acc_tta"] for r in records if "val_acc_tta" in r]
        wall = sum(r["train_seconds"] for r in records) / len(records)
        cpu = sum(sum(r["epoch_cpu_seconds"]) for r in records) / len(records)
        print(f"| {name} | {flags(records[0])} | {records[0]['epochs']} | {records[0]['params']:,} | "
              f"{' '.join(f'{a:.2%}' for a in accs)} | **{sum(accs) / len(accs):.2%}** | "
              f"{f'{sum(tta) / len(tta):.2%}' if tta else '-'} | {wall:.1f} / {cpu:.1f} |")


if __name__ == "__main__":
    main()
