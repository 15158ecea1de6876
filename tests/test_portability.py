"""Installs and `make test` beyond this Linux machine: dependencies per platform, the license, Chromium."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_every_platform_gets_a_tensorflow_backend(platform):
    requirements = [Requirement(r) for r in importlib.metadata.requires("digitrec")]
    env = {"sys_platform": platform, "extra": "keras"}  # TensorFlow comes with the `keras` extra
    backends = [r.name for r in requirements if r.name.startswith("tensorflow") and r.marker and r.marker.evaluate(env)]
    assert backends == (["tensorflow-cpu"] if platform == "linux" else ["tensorflow"])


def test_license_file_matches_pyproject():
    assert importlib.metadata.metadata("digitrec")["License-Expression"] == "MIT"  # SPDX (core metadata 2.4)
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "Permission is hereby granted, free of charge" in text


def test_browser_tests_skip_and_say_why_without_chromium(tmp_path):
    # A PATH with this interpreter's folder only: no chromium or chromium-browser on it.
    env = {k: v for k, v in os.environ.items() if k != "DIGITREC_CHROMIUM"}
    env["PATH"] = str(Path(sys.executable).parent)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_web.py"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 5, result.stdout[-2000:]  # 5: no test ran (here, alone); no failure
    assert "SKIPPED" in result.stdout and "no Chromium found" in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_needs_no_sudo_where_chromium_is_present(tmp_path):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Chromium on this machine")
    # A `sudo` that only records that it was called; `SUDO=sudo -n` is what make uses when not root.
    (tmp_path / "sudo").write_text(f"#!/bin/sh\ntouch {tmp_path / 'sudo-was-called'}\nexit 1\n")
    (tmp_path / "sudo").chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["make", "-s", "chromium", "SUDO=sudo -n"], cwd=ROOT, env=env, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0 and result.stdout == result.stderr == "", result
    assert not (tmp_path / "sudo-was-called").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
def test_make_warns_and_goes_on_where_chromium_cannot_be_installed(tmp_path):
    # No Chromium found, no apt-get or sudo on PATH: a warning, and `make dev` goes on.
    env = dict(os.environ, PATH="/nonexistent")
    result = subprocess.run([shutil.which("make"), "-s", "chromium", "CHROMIUM=", "SUDO=sudo -n",
                             f"SHELL={shutil.which('sh')}"], cwd=ROOT, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result
    assert "the browser tests will be skipped" in result.stderr
