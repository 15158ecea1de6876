"""Native log lines stay off the terminal, whatever the CPU makes TensorFlow print.

The native writes are real writes to file descriptor 2 (as C++ code does
them), in a fresh Python process and in its child, so these tests do not
depend on what this machine's TensorFlow happens to log.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from digitrec import _stderr

NATIVE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1795984536.594887   10145 port.cc:153] oneDNN custom operations are on.",
    b"W0512 10:11:12.123456 99 cpu_feature_guard.cc:227] This TensorFlow binary is optimized",
    b"E0101 00:00:00.000001 1 cuda_dnn.cc:8310] Unable to register cuDNN factory",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
]
KEPT = [
    b"plain native text",
    b"F0101 00:00:00.000001 1 check.cc:1] Check failed: a fatal line says why the process aborts",
    b"Information 1234 is not a log line",
    b"ERROR: a LiteRT error says what went wrong",
]


@pytest.mark.parametrize("line", NATIVE)
def test_native_log_lines_match(line):
    assert _stderr.NATIVE_LOG_LINE.match(line)


@pytest.mark.parametrize("line", KEPT)
def test_other_lines_do_not_match(line):
    assert not _stderr.NATIVE_LOG_LINE.match(line)


SCRIPT = textwrap.dedent("""
    import os, subprocess, sys
    from digitrec import _stderr, cli

    NATIVE, KEPT = {native!r}, {kept!r}

    def writes_natively(args):
        for line in NATIVE + KEPT:
            os.write(2, line + b"\\n")
        print("python line", file=sys.stderr)
        child = "import os; os.write(2, {native0!r} + b'\\\\n'); os.write(2, b'child line\\\\n')"
        subprocess.run([sys.executable, "-c", child], check=True)
        os.write(2, b"last words, no newline")
        return 0

    cli.COMMANDS["evaluate"] = writes_natively
    sys.exit(cli.main(sys.argv[1:]))
""")


def run_script(*args, env=None):
    script = SCRIPT.format(native=NATIVE, kept=KEPT, native0=NATIVE[1])
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, timeout=60,
                          env=env)


def test_cli_filters_native_lines_of_itself_and_its_children():
    result = run_script("evaluate", "--model", "bundled")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.split(b"\n")
    for line in NATIVE:
        assert line not in lines, line
    for line in [*KEPT, b"python line", b"child line"]:
        assert lines.count(line) == 1, (line, result.stderr)
    assert result.stderr.endswith(b"last words, no newline")  # forwarded before the process exits


@pytest.mark.parametrize("args, env", [
    (["--verbose", "evaluate", "--model", "bundled"], {}),
    (["evaluate", "--model", "bundled", "--verbose"], {}),
    (["evaluate", "--model", "bundled"], {"DIGITREC_VERBOSE": "1"}),
], ids=["--verbose before the verb", "--verbose after it", "DIGITREC_VERBOSE=1"])
def test_verbose_shows_native_lines(args, env):
    result = run_script(*args, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.split(b"\n")
    for line in [*NATIVE, *KEPT, b"python line", b"child line"]:
        assert line in lines, (line, result.stderr)


def test_python_stderr_is_direct_and_restored_after_main():
    script = textwrap.dedent("""
        import os, sys
        from digitrec import _stderr
        before = sys.stderr
        with _stderr.filter_native_logs():
            inside = sys.stderr
            assert inside is not before and os.fstat(2).st_ino != os.fstat(inside.fileno()).st_ino
        assert sys.stderr is before
        os.write(2, b"I0000 00:00:1.5 7 port.cc:153] after the block, nothing is filtered\\n")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"I0000 00:00:1.5 7 port.cc:153] after the block, nothing is filtered\n"


def test_a_process_pool_does_not_keep_the_filter_waiting():
    """multiprocessing's resource tracker, which a `spawn` pool starts and which outlives the pool, must not hold
    the filter's pipe: the block then ended only after a 5 s timeout, its forwarding thread still waiting."""
    script = textwrap.dedent("""
        import os, threading
        from digitrec import _stderr, parallel
        if __name__ == "__main__":
            with _stderr.filter_native_logs():
                with parallel.process_pool(2) as pool:
                    assert pool.submit(os.getpid).result() != os.getpid()
                os.write(2, b"after the pool\\n")
            assert not [t for t in threading.enumerate() if t.name == "digitrec-stderr"], "the filter still waits"
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b"after the pool\n"


def test_in_process_callers_keep_their_captured_stderr(capsys):
    with _stderr.filter_native_logs():
        print("captured", file=sys.stderr)
    assert capsys.readouterr().err == "captured\n"
