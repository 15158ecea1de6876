"""Load-test `/api/read` of `digitrec serve`: numbers read in threads (`--workers 0`) beside worker processes.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/read_load.py [--clients 4] [--reads 24]

Sends 24 canvases of 2-4 MNIST *validation* digits (composed by the test
suite's `tests/synth.py`, dark on white, as JSON data URLs) from 1 and from
`--clients` concurrent clients (threads with keep-alive connections), to a
real server on 127.0.0.1 started in each configuration in turn (the bundled
model). Prints reads/s, latency p50 and p95 (ms) and the peak RSS of the
server and its workers. Compare the configurations with each other, not
across machines.
"""

import argparse
import base64
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import synth
from digitrec import bench_scale
from digitrec.data import load_split, stratified_split


def bodies(n=24, seed=5):
    """JSON bodies of `n` canvases of 2-4 validation digits each."""
    x, y = load_split("train")
    _, val = stratified_split(y, 0.1, seed=0)
    rng, out = np.random.default_rng(seed), []
    for _ in range(n):
        picked = val[rng.choice(3000, int(rng.integers(2, 5)), replace=False)]
        number, _ = synth.number(x[picked], rng)
        buffer = io.BytesIO()
        Image.fromarray(synth.canvas(np.pad(number, 20))).convert("RGB").save(buffer, format="PNG")
        out.append(json.dumps({"image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}))
    return [body.encode() for body in out]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--reads", type=int, default=24, help="reads per client")
    args = parser.parse_args()
    sent = bodies()
    for name, options in (("threads (--workers 0)", ["--workers", "0"]), ("worker processes", [])):
        with bench_scale._server(None, options) as (port, proc):
            bench_scale._load(port, sent, args.clients, 6, "/api/read")  # warm-up: starts the workers, loads the model
            for clients in (1, args.clients):
                run = bench_scale._load(port, sent, clients, args.reads, "/api/read")
                p50, p95 = np.percentile(run["latencies_ms"], [50, 95])
                print(f"{name:<22} {clients} client(s): {run['requests_per_s']:6.1f} reads/s, p50 {p50:5.0f} ms, "
                      f"p95 {p95:5.0f} ms, {run['errors']} errors", flush=True)
            print(f"{name:<22} peak RSS (server + workers): {bench_scale._peak_rss_mib(proc.pid)} MiB", flush=True)


if __name__ == "__main__":
    main()
