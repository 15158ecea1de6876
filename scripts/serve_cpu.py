"""CPU time a request of `digitrec serve` under 8 clients, per process: the server, each worker, the clients.

    DIGITREC_DATA_DIR=../shared/data/mnist .venv/bin/python scripts/serve_cpu.py [--requests 60] [SERVE OPTIONS...]

Starts the real server (`bench_scale`'s helper: the bundled model, `digitrec serve` in a subprocess on
127.0.0.1, with any extra options such as `--workers 0`), warms it up, then sends `--requests` of the bench's
page-drawn canvases from each of 8 clients and reads each process's user + system CPU time from
/proc/PID/stat before and after (Linux only). Their sum over the wall time shows how much of the cores a
request takes, and where.
"""

import argparse
import os
import resource
import time

from digitrec import bench_scale


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="requests per client")
    args, options = parser.parse_known_args()
    bodies = bench_scale.canvases()
    with bench_scale._server(None, options) as (port, proc):
        bench_scale._load(port, bodies, 8, 10)  # warm-up: starts the worker processes
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            pids = [proc.pid] + [int(c) for c in f.read().split()]
        before, mine, start = {p: cpu_seconds(p) for p in pids}, resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        load = bench_scale._load(port, bodies, 8, args.requests)
        seconds, n = time.perf_counter() - start, len(load["latencies_ms"])
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(f"{load['requests_per_s']} requests/s; CPU ms a request:")
        for p in pids:
            print(f"  {'server' if p == proc.pid else f'child {p}':<12} {(cpu_seconds(p) - before[p]) / n * 1000:6.2f}")
        clients = (after.ru_utime + after.ru_stime - mine.ru_utime - mine.ru_stime) / n * 1000
        print(f"  {'clients':<12} {clients:6.2f}\n  wall x cores {seconds / n * 1000 * len(os.sched_getaffinity(0)):6.2f}")


if __name__ == "__main__":
    main()
