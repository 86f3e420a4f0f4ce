"""Writing files and folders so that nothing half-written is ever left behind."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_file(path, suffix=""):
    """Yields a temporary file name beside `path`; moves it to `path` when the block succeeds, removes it if not.

    Readers see the old file or the complete new one, never a part.

    Args:
        path: the destination file (its folder is created if needed).
        suffix: suffix of the temporary name (some writers choose the format by it, e.g. ".png").
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary folder beside `path`; when the block succeeds it replaces `path`, else it is removed.

    Args:
        path: the destination folder (an existing one is replaced).
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-")
    try:
        yield tmp
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8) to `path` through `atomic_file`.

    Args:
        path: the destination file.
        text: the text to write.
    """
    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_saved_model(path, tracked, serve, input_signature):
    """Writes a SavedModel whose `serve` and `serving_default` signatures run `serve`, atomically.

    Args:
        path: the SavedModel folder (an existing one is replaced).
        tracked: the Keras model(s) whose variables `serve` uses (one or a list).
        serve: a function of the input tensors returning a dict of output tensors.
        input_signature: list of `tf.TensorSpec` of `serve`'s inputs.
    """
    import keras

    archive = keras.export.ExportArchive()
    for model in tracked if isinstance(tracked, (list, tuple)) else [tracked]:
        archive.track(model)
    archive.add_endpoint("serve", serve, input_signature=input_signature)
    archive.add_endpoint("serving_default", serve, input_signature=input_signature)
    with atomic_directory(path) as tmp:
        archive.write_out(tmp, verbose=False)
