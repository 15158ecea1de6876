"""Atomic file writes: write to a temporary file in the same folder, then rename.

`os.replace` is atomic on POSIX and Windows, so a reader (or a crash) never
sees a half-written model, cache file or report.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to `path`; rename it onto `path` on success.

    Args:
        path: str or Path, the final destination. Parent folders are created.
        suffix: str, ending for the temporary name (e.g. ".keras", which
            Keras requires when saving).

    On an exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial" + suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text(path, text):
    """Atomically write `text` (str, UTF-8) to `path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj):
    """Atomically write `obj` as indented JSON to `path`."""
    write_text(path, json.dumps(obj, indent=2) + "\n")
