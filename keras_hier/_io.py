"""File writing that never leaves a half-written file behind."""

import os
import tempfile


def write_text_atomic(path, text):
    """Writes `text` to a temporary file beside `path`, then moves it into place.

    Readers see the old file or the complete new one, never a part; on any error the temporary file is removed.

    Args:
        path: the destination file (its folder must exist).
        text: the text to write (UTF-8).
    """
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
