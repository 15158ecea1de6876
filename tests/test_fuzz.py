"""Hostile images through the real server and the real CLI: seeded mutations of valid images in every
documented format (flipped bytes, cuts, insertions, extreme header fields), plus files crafted to crash
Pillow's readers and an image over the pixel limit. The server answers each with a 2xx or a JSON 4xx,
never a 5xx; `digitrec predict` prints one result or error line per file, never a traceback."""

import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

import hostile
from live_server import bundled_app, live_server

CASES = 300  # mutated images: 20 per seed image, 15 seed images in 7 formats


@pytest.fixture(scope="module")
def mutated():
    cases = hostile.mutated_images(CASES, seed=11)
    assert len(cases) == CASES and len({name.split(".")[-1] for name, _ in cases}) == 7  # png jpg bmp gif tif webp heic
    return cases


@pytest.mark.slow  # several seconds: a fresh process, a server under load or a big image
def test_server_answers_every_mutated_image_with_2xx_or_json_4xx(mutated):
    with live_server(bundled_app()) as url, httpx.Client(base_url=url, timeout=60) as client:
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda case: client.post("/api/predict", files={"file": case}), mutated))
        assert client.get("/api/health").status_code == 200
    for (name, _), r in zip(mutated, responses):
        assert r.status_code < 500, (name, r.status_code, r.text[:300])
        assert r.headers["content-type"] == "application/json", name
        if r.status_code >= 400:  # the message names the file, unless it is about the picture itself (no ink)
            assert r.json()["detail"].startswith(f"file '{name}': ") or r.status_code == 422, (name, r.json())
    statuses = Counter(r.status_code for r in responses)
    assert statuses[200] and statuses[415] and statuses[422], statuses  # decoded, refused, and failed cases
    print(f"{CASES} mutated images: {dict(sorted(statuses.items()))}")


@pytest.fixture(scope="module")
def predict_run(tmp_path_factory, mutated):
    """`digitrec predict --json` once on a folder of mutated, crafted, over-limit and intact images."""
    root = tmp_path_factory.mktemp("hostile")
    for name, data in mutated:
        (root / "mutated" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "mutated" / name).write_bytes(data)
    for name, make in hostile.CRAFTED.items():
        (root / name).write_bytes(make())
    Image.new("1", (5000, 3201), 1).save(root / "huge.png")
    for name, data in hostile.seed_images().items():
        (root / "intact" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "intact" / name).write_bytes(data)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-m", "digitrec.cli", "predict", "--json", str(root)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    results = {str(Path(r["path"]).relative_to(root)): r for r in map(json.loads, proc.stdout.splitlines())}
    return proc, results


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_predict_never_prints_a_traceback(predict_run, mutated):
    proc, results = predict_run
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr[-3000:]  # Pillow's complaints about damaged files
    assert proc.returncode == 1, proc.stderr[-3000:]  # some files are bad: exit status 1, after all of them
    assert {f"mutated/{name}" for name, _ in mutated} <= set(results)
    for name, result in results.items():
        read = {"path", "label", "confidence", "digit_score", "probabilities", "top_k"}
        assert set(result) in ({"path", "error"}, read, read | {"rejected"}), name
        if "error" in result:
            assert result["error"].startswith(result["path"]) or result["error"].startswith("no ink"), result


def test_predict_reports_crafted_files_and_reads_the_rest(predict_run):
    _, results = predict_run
    for name in hostile.CRAFTED:
        assert set(results[name]) == {"path", "error"}, results[name]
    assert "not one of the supported formats" in results["dds.png"]["error"]
    assert "not one of the supported formats" in results["spider.tif"]["error"]
    assert "cannot decode the image (error: " in results["exif.jpg"]["error"]
    assert results["huge.png"]["error"].endswith(": image too large: 5000x3201 is 16.0 megapixels; "
                                                 "the limit is 16,000,000 pixels")
    intact = {name: r for name, r in results.items() if name.startswith("intact/")}
    assert len(intact) == len(hostile.seed_images())
    assert {name: r.get("label") for name, r in intact.items()} == dict.fromkeys(intact, 7)
