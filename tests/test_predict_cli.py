"""`digitrec predict` and `digitrec read`: files and folders, every format, JSON lines, bad files, exit codes.

Runs the real command in a subprocess (`python -m digitrec.cli predict ...`).
Set DIGITREC_TEST_MODEL to a .keras file to use another model than the
bundled one.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features
from pillow_heif import register_heif_opener

register_heif_opener()  # the .HEIC picture is written, as `digitrec.decoding` reads it

# MNIST test images that any decent model reads with high confidence: index -> label.
DIGITS = {3: 0, 2: 1, 1: 2, 18: 3, 4: 4, 15: 5, 11: 6, 0: 7, 61: 8, 7: 9}

KEYS = {"path", "label", "confidence", "digit_score", "probabilities", "top_k"}


def run_predict(*args, prefix=(), command="predict"):
    """Run `digitrec predict ARGS` (or another `command`, after the command words `prefix`); returns (exit code,
    stdout, stderr)."""
    model = os.environ.get("DIGITREC_TEST_MODEL")
    cmd = [*prefix, sys.executable, "-m", "digitrec.cli", command, *(["--model", model] if model else []),
           *map(str, args)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def json_lines(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    return {Path(r["path"]).name: r for r in map(json.loads, lines)}


def _picture(digit, style):
    """The MNIST digit as a picture a user might have: a scan, a canvas drawing, a dark photo."""
    big = np.asarray(Image.fromarray(digit).resize((140, 140), Image.BICUBIC))
    if style == "scan":
        return Image.fromarray(255 - big).convert("RGB")
    if style == "canvas":  # black ink on a transparent background
        return Image.fromarray(np.dstack([np.zeros((140, 140, 3), np.uint8), big]), "RGBA")
    if style == "chalk":  # light ink on a dark board
        return Image.fromarray((30 + big * 0.8).astype(np.uint8))
    raise ValueError(style)


def _write_good(root, images):
    """Ten digit images in seven formats, in nested folders; returns {file name: label}."""
    layout = [  # (MNIST index, relative path, style)
        (3, "zero.png", "scan"), (2, "one.jpg", "scan"), (1, "sub/two.bmp", "scan"),
        (18, "sub/three.gif", "scan"), (4, "sub/deeper/four.tiff", "scan"), (15, "sub/deeper/five.webp", "scan"),
        (11, "six.PNG", "canvas"), (0, "sub/seven.jpeg", "chalk"), (61, "sub/deeper/eight.tif", "chalk"),
        (7, "nine.HEIC", "canvas"),  # an iPhone's format (HEIF), with alpha
    ]
    expected = {}
    for index, rel, style in layout:
        if rel.endswith(".webp") and not features.check("webp"):
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        image = _picture(images[index], style)
        if path.suffix.lower() in (".jpg", ".jpeg", ".bmp") and image.mode == "RGBA":
            image = image.convert("RGB")
        image.save(path)
        expected[path.name] = DIGITS[index]
    return expected


@pytest.fixture(scope="module")
def tree(tmp_path_factory, mnist_test):
    """good/: images only. mixed/: the same images plus a corrupt PNG and a text file."""
    images, labels = mnist_test
    assert all(labels[i] == d for i, d in DIGITS.items())
    root = tmp_path_factory.mktemp("predict")
    good = _write_good(root / "good", images)
    mixed = _write_good(root / "mixed", images)
    (root / "mixed" / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (root / "mixed" / "notes.txt").write_text("not an image\n")
    (root / "mixed" / "sub" / "deeper" / "readme.md").write_text("# nor this\n")
    return root, good, mixed


@pytest.fixture(scope="module")
def mixed_json(tree):
    root, _, _ = tree
    return run_predict("--json", "--top-k", "2", root / "mixed")


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_json_lines_for_a_folder_tree_with_a_bad_file(tree, mixed_json):
    root, _, expected = tree
    code, stdout, stderr = mixed_json
    results = json_lines(stdout)  # every line is a JSON object
    assert code == 1, stderr  # a bad file makes the exit status 1 ...
    assert set(results) == set(expected) | {"broken.png"}  # ... but does not stop the batch
    assert "notes.txt" not in results and "readme.md" not in results  # folders hold only images
    error = results.pop("broken.png")
    assert set(error) == {"path", "error"}
    assert Path(error["path"]) == root / "mixed" / "sub" / "broken.png"
    assert "broken.png" in error["error"] and error["error"]
    for name, result in results.items():
        assert set(result) == KEYS, name
        assert result["label"] == expected[name], (name, result["top_k"])
        assert Path(result["path"]).is_file()
        probs = result["probabilities"]
        assert len(probs) == 10 and sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert result["confidence"] == max(probs) == probs[result["label"]]


def test_top_k_entries_are_sorted(mixed_json):
    _, stdout, _ = mixed_json
    for name, result in json_lines(stdout).items():
        if "error" in result:
            continue
        top = result["top_k"]
        assert len(top) == 2, name
        assert [set(t) for t in top] == [{"label", "probability"}] * 2
        assert top[0]["label"] == result["label"] and top[0]["probability"] == result["confidence"]
        assert top[0]["probability"] >= top[1]["probability"]
        assert top[1]["probability"] == result["probabilities"][top[1]["label"]]


def test_files_are_listed_in_a_stable_order(mixed_json):
    _, stdout, _ = mixed_json
    paths = [json.loads(line)["path"] for line in stdout.splitlines() if line.strip()]
    assert paths == sorted(paths)


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_table_output_for_good_images_exits_0(tree):
    root, expected, _ = tree
    code, stdout, stderr = run_predict(root / "good")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert "label" in lines[0] and "confidence" in lines[0]  # a header
    rows = {Path(line.split()[0]).name: line for line in lines[1:] if line.strip()}
    assert set(rows) == set(expected)
    for name, line in rows.items():
        assert str(root / "good") in line
        assert line.split()[1] == str(expected[name]), line
        assert 0 <= float(line.split()[3]) <= 1, line  # the digit score


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_min_confidence_missing_path_and_explicit_non_image(tree):
    root, expected, _ = tree
    missing, text = root / "good" / "missing.png", root / "mixed" / "notes.txt"
    code, stdout, stderr = run_predict("--json", "--min-confidence", "0.9999999", root / "good", missing, text)
    assert code == 1, stderr
    results = json_lines(stdout)
    assert set(results) == set(expected) | {"missing.png", "notes.txt"}
    assert set(results.pop("missing.png")) == {"path", "error"}
    assert "not an image" in results.pop("notes.txt")["error"]
    uncertain = [r for r in results.values() if r.get("uncertain")]
    assert uncertain, "a 0.9999999 threshold should leave some image uncertain"
    for name, result in results.items():
        if result["confidence"] < 0.9999999:
            assert result["label"] is None and result["uncertain"] is True, name
            assert result["top_k"][0]["label"] == expected[name]  # the best guess is still reported
        else:
            assert result["label"] == expected[name] and "uncertain" not in result


def test_only_a_missing_path(tmp_path):
    code, stdout, _ = run_predict("--json", tmp_path / "nothing-here.jpg")
    assert code == 1
    [result] = json_lines(stdout).values()
    assert "not found" in result["error"] and "nothing-here.jpg" in result["error"]


# Root reads files whatever their permissions; without these two capabilities it is refused like anyone else.
AS_UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_unreadable_folder_entries_are_reported_with_their_cause(tmp_path, mnist_test):
    if AS_UNPRIVILEGED and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): permissions cannot be enforced")
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    _picture(mnist_test[0][0], "scan").save(root / "seven.png")
    (root / "loop1.png").symlink_to("loop2.png")
    (root / "loop2.png").symlink_to("loop1.png")
    (root / "gone.png").symlink_to("missing.png")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)
    os.mkfifo(root / "pipe.png")  # opening it for reading would wait for a writer forever
    os.mkfifo(root / "sub" / "pipe")
    shutil.copy(root / "seven.png", root / "locked.png")
    (root / "locked.png").chmod(0)
    (root / "closed").mkdir()
    (root / "closed" / "hidden.png").write_bytes((root / "seven.png").read_bytes())
    (root / "closed").chmod(0)
    try:
        code, stdout, stderr = run_predict("--json", "--model", "bundled", root, root / "pipe.png",
                                           prefix=AS_UNPRIVILEGED)
    finally:
        (root / "closed").chmod(0o755)
    assert code == 1 and "Traceback" not in stderr, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    errors = {os.path.relpath(r["path"], root): r["error"] for r in lines if "error" in r}
    # the one good image, read by the bundled model named as `--model bundled`
    assert [r["label"] for r in lines if "error" not in r] == [int(mnist_test[1][0])]
    assert errors == {
        "closed": f"{root / 'closed'}: cannot list this folder (permission denied)",
        "gone.png": f"{root / 'gone.png'}: file not found (a symbolic link to a missing file)",
        "locked.png": f"{root / 'locked.png'}: permission denied",
        "loop1.png": f"{root / 'loop1.png'}: symbolic link loop",
        "loop2.png": f"{root / 'loop2.png'}: symbolic link loop",
        "pipe.png": f"{root / 'pipe.png'}: a named pipe (FIFO), not a file; not opened",
        os.path.join("sub", "pipe"): f"{root / 'sub' / 'pipe'}: a named pipe (FIFO), not a file; not opened",
        os.path.join("sub", "up"): f"{root / 'sub' / 'up'}: symbolic link loop (a link to a folder that contains "
                                   "it); not followed",
    }
    assert [r["path"] for r in lines].count(str(root / "pipe.png")) == 2  # in the folder, and named on its own



# ---- digitrec read -------------------------------------------------------------


@pytest.fixture(scope="module")
def numbers(tmp_path_factory, mnist_test):
    """numbers/: two handwritten numbers (PNG, JPEG photo), a blank page and a digit beside a shape (not a number);
    returns (folder, {name: text})."""
    import synth

    images, labels = mnist_test
    root = tmp_path_factory.mktemp("read") / "numbers"
    root.mkdir()
    rng = np.random.default_rng(12)
    number, _ = synth.number(images[[0, 1, 2, 3]], rng)
    Image.fromarray(synth.canvas(number)).save(root / "7210.png")
    number, _ = synth.number(images[[4, 5, 6]], rng)
    Image.fromarray(synth.number_photo(number, rng)).save(root / "photo.jpg", quality=90)
    Image.new("L", (300, 100), 255).save(root / "blank.png")
    Image.fromarray(synth.digit_beside_a_shape(images[0], seed=0)).save(root / "not-a-number.png")
    return root, {"7210.png": "".join(map(str, labels[:4])), "photo.jpg": "".join(map(str, labels[4:7]))}


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_read_json_lines_with_a_bad_file_exits_1(numbers):
    root, expected = numbers
    code, stdout, stderr = run_predict("--json", root, root / "missing.png", command="read")
    assert code == 1, stderr
    results = json_lines(stdout)
    assert set(results) == set(expected) | {"blank.png", "missing.png", "not-a-number.png"}
    assert "no ink found" in results.pop("blank.png")["error"]
    refused = results.pop("not-a-number.png")
    assert refused["text"] == "??" and refused["rejected"] == "not a number", refused
    assert "not found" in results.pop("missing.png")["error"]
    for name, result in results.items():
        assert set(result) == {"path", "text", "confidence", "digits"}
        assert result["text"] == expected[name], result
        assert result["confidence"] == pytest.approx(np.prod([d["confidence"] for d in result["digits"]]))
        for digit, char in zip(result["digits"], result["text"]):
            assert {"label", "confidence", "digit_score", "probabilities", "box"} <= set(digit)
            assert digit["label"] == int(char) and len(digit["box"]) == 4
        lefts = [d["box"][0] for d in result["digits"]]
        assert lefts == sorted(lefts)


@pytest.mark.slow  # several seconds: a fresh process, or a browser timeout
def test_read_table(numbers):
    root, expected = numbers
    code, stdout, stderr = run_predict(root / "7210.png", root / "not-a-number.png", command="read")
    assert code == 0, stderr
    header, row, refused = stdout.splitlines()
    assert header.split()[:3] == ["path", "text", "confidence"]
    assert row.split()[1] == expected["7210.png"] and "not a number" not in row
    assert refused.split()[1] == "??" and refused.endswith("(not a number)")
    assert [cell.split(":")[0] for cell in row.split()[3:]] == list(expected["7210.png"])  # label:confidence


@pytest.fixture
def a_bug_on_one_file(monkeypatch):
    """Make digitrec itself fail on files named `bug.png` (no real input is known to: that is the point),
    in this process, for `predict --workers 1` and `read`."""
    from digitrec import inference, parallel

    def buggy(real):
        def call(source, *args, **kwargs):
            if str(source).endswith("bug.png"):
                raise IndexError("index 3 is out of bounds")
            return real(source, *args, **kwargs)
        return call

    monkeypatch.setattr(parallel, "normalize_source", buggy(parallel.normalize_source))
    monkeypatch.setattr(inference, "load_image", buggy(inference.load_image))  # `read` decodes the file first


@pytest.mark.parametrize("command", ["predict", "read"])
def test_a_bug_on_one_file_is_that_files_error_line_and_the_batch_goes_on(tmp_path, mnist_test, a_bug_on_one_file,
                                                                         capsys, command):
    from digitrec.cli import main

    for name, index in (("a.png", 0), ("bug.png", 1), ("c.png", 2)):
        Image.fromarray(255 - mnist_test[0][index]).resize((84, 84)).save(tmp_path / name)
    assert main([command, "--json", *(["--workers", "1"] if command == "predict" else []), str(tmp_path)]) == 1
    out = json_lines(capsys.readouterr().out)
    assert list(out) == ["a.png", "bug.png", "c.png"]
    assert out["bug.png"]["error"] == f"{tmp_path / 'bug.png'}: internal error (IndexError: index 3 is out of " \
                                      "bounds); please report it with this image"
    key = "label" if command == "predict" else "text"
    assert [str(out[n][key]) for n in ("a.png", "c.png")] == [str(mnist_test[1][0]), str(mnist_test[1][2])]
