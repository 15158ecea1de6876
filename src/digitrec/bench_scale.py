"""Benchmark scaling on this machine: `digitrec bench --serve` and `digitrec bench --predict`.

`serve_load` starts the real server (`digitrec serve`, a subprocess on
127.0.0.1) twice, side by side, measured in alternating rounds: as it was (batch 1, normalization in
threads: `--workers 0 --max-batch 1`) and with dynamic batching and a process
pool (the defaults). Each gets 280x280 PNG canvases of MNIST test digits
drawn with the drawing page's pen, as the page sends them (JSON data URLs), from 1
client and from 8 concurrent clients (threads with keep-alive connections,
stdlib `http.client`). It reports latency p50 and p95 (milliseconds),
requests/s, errors (any answer but 200) and the peak resident memory of
the server and its worker processes (the sum of their `VmHWM`, Linux only).

`predict_rate` writes MNIST test digits as 16x16 grey scans (PNG files of
the `tight16` family of `digitrec.renderings`, like the 2,007 small scans of
issue 13; MNIST's own 28x28 images would pass normalization untouched) and times
`parallel.predict_files` on them with 1 and 2 worker processes (the model
loaded beforehand, the start of the worker processes included), in two
alternating rounds, reporting the best images/s of each and the scaling
efficiency, rate(2) / (2 x rate(1)).

Times are wall-clock; compare the configurations only within one run.
"""

import base64
import concurrent.futures
import contextlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

TARGETS = {"p50_ms_1_client": 10.0, "requests_per_s_8_clients": 200.0, "p95_ms_8_clients": 60.0}  # issue 13
CONFIGS = {"batch 1, threads": ["--workers", "0", "--max-batch", "1"], "dynamic batching": []}


PAGE_INK = (22, 24, 29)  # the drawing page's ink, #16181d (static/app.js)
PAGE_STROKE = 0.07  # the drawing page's pen width, in canvas heights (static/app.js)


def canvases(data_dir=None, n=64, seed=0):
    """`n` JSON request bodies `{"image": PNG data URL}`: MNIST test digits drawn as the drawing page draws them.

    Each is a 280x280 white RGB canvas with a digit 120-220 px tall at a
    random place, redrawn along its skeleton with a round pen
    `PAGE_STROKE` of the canvas high, in `PAGE_INK`, with anti-aliased edges
    (`renderings.pen`), as the page's canvas strokes the user's path.
    """
    from digitrec.data import load_split
    from digitrec.renderings import pen

    rng, side, bodies = np.random.default_rng(seed), 280, []
    for digit in load_split("test", data_dir)[0][:n]:
        cover = pen(digit, rng.uniform(120, 220), PAGE_STROKE * side, rng)[:side, :side, None]
        top, left = (int(rng.integers(0, side - k + 1)) for k in cover.shape[:2])
        page = np.full((side, side, 3), 255.0)
        page[top : top + cover.shape[0], left : left + cover.shape[1]] -= cover * (255 - np.array(PAGE_INK))
        buf = io.BytesIO()
        Image.fromarray(np.round(page).astype(np.uint8)).save(buf, format="PNG")
        bodies.append(json.dumps({"image": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()}))
    return [body.encode() for body in bodies]


@contextlib.contextmanager
def _server(model, options):
    """A `digitrec serve` subprocess on a free 127.0.0.1 port; yields `(port, Popen)`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "digitrec.cli", "serve", "--port", str(port), *(["--model", model] if model else []),
           *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"digitrec serve exited with status {proc.returncode}: {' '.join(cmd)}")
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/health")
                if conn.getresponse().status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("digitrec serve did not answer within 180 s")
            time.sleep(0.2)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _client(port, bodies, count, offset, path="/api/predict"):
    """Send `count` requests to `path` over one keep-alive connection; returns (latencies in s, errors)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, errors = [], 0
    for i in range(count):
        start = time.perf_counter()
        try:
            conn.request("POST", path, body=bodies[(offset + i) % len(bodies)],
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            errors += response.status != 200
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies.append(time.perf_counter() - start)
    conn.close()
    return latencies, errors


def _load(port, bodies, clients, per_client, path="/api/predict"):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(_client, [port] * clients, [bodies] * clients, [per_client] * clients,
                             range(0, clients * 7, 7), [path] * clients))
    seconds = time.perf_counter() - start
    latencies = np.concatenate([lat for lat, _ in done]) * 1000
    return {"clients": clients, "errors": int(sum(e for _, e in done)), "latencies_ms": latencies,
            "requests_per_s": round(len(latencies) / seconds, 1)}


def _peak_rss_mib(pid):
    """Sum of `VmHWM` of process `pid` and its children (MiB), or None where /proc is missing."""
    def hwm(p):
        with open(f"/proc/{p}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
        return round((hwm(pid) + sum(hwm(c) for c in children)) / 1024, 1)
    except (OSError, StopIteration, ValueError):
        return None


def serve_load(model=None, data_dir=None, quick=False, log=print):
    """Load-test `digitrec serve` in each of `CONFIGS`; returns a JSON-ready dict (see the module docstring).

    Both servers run at once (one idles while the other is measured) and are measured in alternating
    rounds, so that a change in the machine's load between them affects both alike. Latencies are pooled
    over the rounds; requests/s is the median of the rounds.
    """
    bodies = canvases(data_dir)
    rounds, per_client = (1, {1: 40, 8: 10}) if quick else (3, {1: 100, 8: 20})
    result = {"targets": TARGETS, "rounds": rounds, "configs": {},
              "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(_server(model, options)) for name, options in CONFIGS.items()}
        for port, _ in servers.values():
            _load(port, bodies, 8, 5)  # warm-up: starts the worker processes, traces the model's batch sizes
        measured = {(name, n): [] for name in CONFIGS for n in (1, 8)}
        for r in range(rounds):
            for n in (1, 8):
                for name, (port, _) in servers.items():
                    measured[name, n].append(_load(port, bodies, n, per_client[n]))
            log(f"serve: round {r + 1} of {rounds} done")
        for name, (_, proc) in servers.items():
            runs = {f"{n}_client{'s' * (n > 1)}": _pool(measured[name, n]) for n in (1, 8)}
            result["configs"][name] = runs | {"peak_rss_mib": _peak_rss_mib(proc.pid)}
            log(f"  {name}: {json.dumps(result['configs'][name])}")
    return result


def _pool(loads):
    """One summary of several `_load` rounds: latencies pooled, requests/s the median round."""
    latencies = np.concatenate([load.pop("latencies_ms") for load in loads])
    return {"clients": loads[0]["clients"], "requests": len(latencies), "errors": sum(x["errors"] for x in loads),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p95_ms": round(float(np.percentile(latencies, 95)), 2),
            "requests_per_s": float(np.median([x["requests_per_s"] for x in loads]))}


def format_serve(result):
    """A text table of `serve_load`'s result, the issue's targets beside it."""
    lines = [f"{'server':<18} {'clients':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8} {'errors':>6} {'peak RSS MiB':>12}"]
    for name, runs in result["configs"].items():
        for key in ("1_client", "8_clients"):
            r = runs[key]
            lines.append(f"{name:<18} {r['clients']:>7} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                         f"{r['requests_per_s']:>8.1f} {r['errors']:>6} {runs['peak_rss_mib'] or '-':>12}")
    old, new = (result["configs"][k] for k in CONFIGS)
    t = result["targets"]
    lines += [
        f"8 clients, requests/s: {new['8_clients']['requests_per_s'] / old['8_clients']['requests_per_s']:.2f}x "
        "batch 1's",
        f"targets (issue 13, dynamic batching): 1 client p50 <= {t['p50_ms_1_client']:g} ms: "
        f"{_verdict(new['1_client']['p50_ms'] <= t['p50_ms_1_client'])}; 8 clients >= "
        f"{t['requests_per_s_8_clients']:g} req/s: "
        f"{_verdict(new['8_clients']['requests_per_s'] >= t['requests_per_s_8_clients'])}, p95 <= "
        f"{t['p95_ms_8_clients']:g} ms: {_verdict(new['8_clients']['p95_ms'] <= t['p95_ms_8_clients'])}; "
        f"0 errors: {_verdict(not new['1_client']['errors'] and not new['8_clients']['errors'])}",
        f"({result['cores']} cores; wall-clock, with the clients on the same machine)",
    ]
    return "\n".join(lines)


def _verdict(ok):
    return "met" if ok else "NOT met"


def predict_rate(model=None, data_dir=None, quick=False, workers=(1, 2), log=print):
    """images/s of `parallel.predict_files` on MNIST test digits as PNG files, per worker count (dict)."""
    from digitrec import parallel, renderings, runs
    from digitrec.data import load_split
    from digitrec.inference import Recognizer

    images = load_split("test", data_dir)[0][: 1000 if quick else 10000]
    recognizer = Recognizer(runs.serving_model(model))  # as `digitrec predict` loads it
    result = {"images": len(images), "family": "tight16", "rates": {}}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i:05d}.png" for i in range(len(images))]
        for path, digit in zip(paths, images):
            path.write_bytes(renderings.render("tight16", digit, rng))
        for _ in range(1 if quick else 2):  # alternating rounds; the best of each (load changes only slow a run)
            for n in workers:
                start = time.perf_counter()
                labels = [outcome.label for _, outcome in parallel.predict_files(paths, recognizer, workers=n)]
                rate = round(len(labels) / (time.perf_counter() - start), 1)
                result["rates"][n] = max(rate, result["rates"].get(n, 0))
                log(f"predict: {n} worker(s): {rate} images/s")
    first, *_, last = workers
    result["scaling_efficiency"] = round(result["rates"][last] / (last / first * result["rates"][first]), 3)
    return result


def format_predict(result):
    rates = result["rates"]
    return "\n".join([f"{n} worker(s): {rate:,.1f} images/s" for n, rate in rates.items()]
                     + [f"scaling efficiency: {result['scaling_efficiency']:.0%} "
                        f"({result['images']:,} PNG files of 16x16 scans, model loaded beforehand)"])
