"""Peak memory of `digitrec serve` under 32 simultaneous uploads of a 4000x4000 1-bit PNG.

    .venv/bin/python scripts/serve_memory.py [--uploads 32] [--decodes 2,32] [--mode 1] [--out FILE]

A 4000x4000 1-bit PNG of a digit is about 20 KB on the wire, and 16 million
pixels once decoded. For each value of `--decodes` (`guards.Limits.decodes`,
images decoded at once), the script starts a real server in a fresh process
(the bundled model, `digitrec.server.serve`), waits until it answers,
resets the process's peak RSS (Linux: `/proc/PID/clear_refs`), sends all
uploads at the same moment from as many threads, and reads the peak RSS
(`VmHWM` in `/proc/PID/status`). Linux only. Settings run side by side in one
invocation; compare them with each other, not across machines.
"""

import argparse
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from PIL import Image, ImageDraw


def big_png(mode="1", side=4000):
    """PNG bytes of a `side` x `side` picture of a 7, black on white, in Pillow mode `mode`."""
    image = Image.new(mode, (side, side), "white")
    ImageDraw.Draw(image).line([(0.25 * side, 0.2 * side), (0.75 * side, 0.2 * side), (0.45 * side, 0.85 * side)],
                               fill="black", width=side // 25)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


def _post(url, body, boundary):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def measure(png, uploads, decodes):
    """Serve in a fresh process, send `uploads` PNGs at once; returns a dict of MiB, seconds and statuses."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("from digitrec import guards, server; "
            f"server.serve(port={port}, limits=guards.Limits(decodes={decodes}, connections={uploads + 16}))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"TF_CPP_MIN_LOG_LEVEL": "3", **__import__("os").environ})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/health", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        boundary = "digitrec-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
        _post(f"{base}/api/predict", body, boundary)  # one warm-up request
        idle = _status_kib(proc.pid, "VmRSS")
        with open(f"/proc/{proc.pid}/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS
        start_line = threading.Barrier(uploads)
        results = [None] * uploads

        def client(i):
            start_line.wait()
            results[i] = _post(f"{base}/api/predict", body, boundary)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(uploads)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - start
        peak = _status_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    statuses = sorted({status for status, _ in results})
    labels = sorted({body.get("label") for _, body in results})
    return {"decodes": decodes, "uploads": uploads, "idle_rss_mib": round(idle / 1024), "peak_rss_mib": round(peak / 1024),
            "growth_mib": round((peak - idle) / 1024), "seconds": round(seconds, 1), "statuses": statuses,
            "labels": labels}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=32)
    parser.add_argument("--decodes", default="2,32", help="comma-separated values of Limits.decodes to compare")
    parser.add_argument("--mode", default="1", help="Pillow mode of the PNG: 1 (1-bit, default), L, RGB, RGBA")
    parser.add_argument("--out", help="also write the results as JSON")
    args = parser.parse_args(argv)
    png = big_png(args.mode)
    print(f"upload: 4000x4000 PNG, mode {args.mode}, {len(png):,} bytes; {args.uploads} at once")
    rows = [measure(png, args.uploads, int(d)) for d in args.decodes.split(",")]
    print(f"{'decodes':>7} {'idle RSS':>9} {'peak RSS':>9} {'growth':>7} {'seconds':>7}  statuses  labels")
    for r in rows:
        print(f"{r['decodes']:>7} {r['idle_rss_mib']:>5} MiB {r['peak_rss_mib']:>5} MiB {r['growth_mib']:>3} MiB "
              f"{r['seconds']:>7}  {r['statuses']}  {r['labels']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"mode": args.mode, "png_bytes": len(png), "runs": rows}, f, indent=1)


if __name__ == "__main__":
    main()
