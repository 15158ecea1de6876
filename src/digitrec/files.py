"""Find the image files that a command line names, and say why any cannot be read.

    for path, error in find_images(["photos/", "extra.png"]):
        ...  # error is None, or "photos/pipe.png: a named pipe (FIFO), not a file; not opened"

Folders are searched recursively, entries sorted by name, symbolic links
followed; a file counts as an image by its suffix. Every entry that cannot
be read is reported, with its real cause: a folder that cannot be listed, a
symbolic link that loops or leads nowhere, a named pipe, socket or device,
a file without read permission. Nothing is opened that could block: a
named pipe (FIFO) is never opened.
"""

import errno
import os
import stat
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".heic", ".heif"}

_SPECIAL = {stat.S_ISFIFO: "a named pipe (FIFO)", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
            stat.S_ISBLK: "a block device"}


def find_images(paths):
    """Yield `(Path, error)` for each image file named or found in a folder.

    Args:
        paths: str or Path of files and folders. A file named here is
            yielded whatever its suffix; in folders only image suffixes count.

    Yields:
        `(path, None)` for a readable regular file, `(path, message)` for
        an entry that cannot be read; the message starts with the path.
    """
    for path in map(Path, paths):
        try:
            is_folder = stat.S_ISDIR(path.stat().st_mode)
        except OSError:
            is_folder = False
        if is_folder:
            yield from _walk(path, {_identity(path)})
        else:
            yield path, _unreadable(path)


def _identity(path):
    st = path.stat()
    return st.st_dev, st.st_ino


def _walk(folder, ancestors):
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as e:
        yield folder, f"{folder}: cannot list this folder ({_cause(folder, e)})"
        return
    for path in (folder / name for name in names):
        try:
            st = path.stat()
        except OSError as e:  # a loop, a dangling link, no permission: it might have been a folder
            yield path, f"{path}: {_cause(path, e)}"
            continue
        if stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in ancestors:
                yield path, f"{path}: symbolic link loop (a link to a folder that contains it); not followed"
            else:
                yield from _walk(path, ancestors | {(st.st_dev, st.st_ino)})
        elif not stat.S_ISREG(st.st_mode) or path.suffix.lower() in IMAGE_SUFFIXES:
            yield path, _unreadable(path)


def _unreadable(path):
    """Why the file `path` cannot be read, or None; opens only regular files, which never block."""
    try:
        mode = path.stat().st_mode
        special = next((kind for test, kind in _SPECIAL.items() if test(mode)), None)
        if special:
            return f"{path}: {special}, not a file; not opened"
        if stat.S_ISREG(mode):
            os.close(os.open(path, os.O_RDONLY))
    except OSError as e:
        return f"{path}: {_cause(path, e)}"
    return None


def _cause(path, error):
    if error.errno == errno.ELOOP:
        return "symbolic link loop"
    if error.errno == errno.ENOENT:
        return "file not found (a symbolic link to a missing file)" if path.is_symlink() else "file not found"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)
