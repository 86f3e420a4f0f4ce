"""Writing files and folders so that nothing half-written is ever left behind, and nothing of the user's is lost.

Everything is written under a temporary name beside its destination (`.tmp-<name>-<pid>-<random>`) and moved into
place when complete, with the permissions a plain `open` / `mkdir` would give (0644 / 0755 under the usual umask),
so a server running as another user can read it. A folder that is already there is replaced atomically: swapped
with the new one in a single `renameat2(RENAME_EXCHANGE)` where Linux offers it, else moved aside, the new one moved
in, and the old one deleted (restored if the move fails). Leftovers of a writer that was killed (its process is
gone) are cleaned by the next write to the same destination.
"""

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import sys
import tempfile

EXPORT_MARKER = "keras_hier_export.json"


def _umask():
    """The process's umask, read without changing it where /proc allows."""
    with contextlib.suppress(OSError):  # no /proc: set it and put it back
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _normal_mode(path, directory=False):
    """Gives `path` the mode `open` / `mkdir` would (0666 / 0777 less the umask), not mkstemp's 0600 / 0700."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _temporary_prefix(path, kind="tmp"):
    return f".{kind}-{os.path.basename(os.path.abspath(path))}-{os.getpid()}-"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _clean_stale(path):
    """Removes `.tmp-` / `.old-` leftovers of `path` whose writer process is gone; an `.old-` copy is put back first
    when `path` itself is missing (a writer killed between moving the old folder aside and the new one in)."""
    parent, name = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"^\.(tmp|old)-{re.escape(name)}-(\d+)-")
    try:
        entries = os.listdir(parent)
    except FileNotFoundError:
        return
    for entry in entries:
        match = pattern.match(entry)
        if not match or _alive(int(match.group(2))):
            continue
        stale = os.path.join(parent, entry)
        if match.group(1) == "old" and not os.path.lexists(path):
            os.rename(stale, path)
        elif os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.remove(stale)


def _exchange(a, b):
    """Swaps two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, f"Could not swap {a} and {b}: {os.strerror(code)}")


def _install_directory(tmp, path):
    """Moves the complete folder `tmp` to `path`; an existing `path` is replaced without ever being missing (or, where
    an atomic swap is impossible, is missing only between two renames and is restored if the second fails)."""
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):  # `tmp` now holds the old folder
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(path)), prefix=_temporary_prefix(path, "old"))
    os.rmdir(aside)
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path, suffix=""):
    """Yields a temporary file name beside `path`; moves it to `path` when the block succeeds, removes it if not.

    Readers see the old file or the complete new one, never a part. The file gets the usual permissions (0644 under
    a 022 umask).

    Args:
        path: the destination file (its folder is created if needed).
        suffix: suffix of the temporary name (some writers choose the format by it, e.g. ".png").
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    _clean_stale(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(path), suffix=suffix)
    os.close(fd)
    _normal_mode(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path, may_replace=None):
    """Yields a temporary folder beside `path`; when the block succeeds it takes `path`'s place, else it is removed.

    Args:
        path: the destination folder.
        may_replace: called with `path` when it already exists, before anything is written; it raises to refuse
            (default: any existing folder is replaced).
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    _clean_stale(path)
    if os.path.lexists(path) and may_replace is not None:
        may_replace(path)
    tmp = tempfile.mkdtemp(dir=parent, prefix=_temporary_prefix(path))
    _normal_mode(tmp, directory=True)
    try:
        yield tmp
        _install_directory(tmp, path)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path, text):
    """Writes `text` (UTF-8) to `path` through `atomic_file`.

    Args:
        path: the destination file.
        text: the text to write.
    """
    with atomic_file(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def save_model_atomic(model, path):
    """`model.save(path)` (a `.keras` file) through `atomic_file`: a full disk or a killed process leaves the old file
    or none, never a part of one.

    Args:
        model: the Keras model.
        path: the destination, ending in `.keras`.
    """
    with atomic_file(path, suffix=".keras") as tmp:
        model.save(tmp)


def save_weights_atomic(model, path):
    """`model.save_weights(path)` (a `.weights.h5` file) through `atomic_file`, complete or not at all.

    Args:
        model: the Keras model.
        path: the destination, ending in `.weights.h5`.
    """
    with atomic_file(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp, overwrite=True)


def is_decimal(text):
    """Whether `text` is a plain ASCII decimal number ("12"): `str.isdigit` also accepts "²" and "٣", which `int`
    refuses or reads as another number."""
    return bool(re.fullmatch(r"[0-9]+", text))


def _version_folders(path):
    """The TF Serving version numbers of the folders in `path` (names that are plain ASCII decimals)."""
    if not os.path.isdir(path):
        return []
    return sorted(int(e) for e in os.listdir(path) if is_decimal(e) and os.path.isdir(os.path.join(path, e)))


def _is_keras_hier_export(path):
    return os.path.isfile(os.path.join(path, EXPORT_MARKER))


def _refuse_foreign_folder(path):
    """Lets an export replace only an empty folder or an earlier keras_hier export."""
    if not os.path.isdir(path) or os.path.islink(path):
        raise FileExistsError(f"{path} exists and is not a folder: choose another export path.")
    if _is_keras_hier_export(path) or not os.listdir(path):
        return
    versions = _version_folders(path)
    listed = ", ".join(map(str, versions))
    hint = (f" It looks like a TF Serving base folder (versions {listed}): pass `version=\"next\"` (or a "
            "number) to write a new version inside it." if versions else "")
    raise FileExistsError(f"Refusing to replace {path}: it is not a SavedModel written by keras_hier (no "
                          f"{EXPORT_MARKER}), and replacing it would delete what it holds.{hint} Choose another path, "
                          "or remove the folder yourself.")


def export_path(path, version=None):
    """The folder an export with `version` goes to: `path` itself (None), `path/<version>` (an int), or the next
    free TF Serving version under `path` (`"next"`: one more than the largest number there, 1 if none).

    Args:
        path: the export folder, or TF Serving's base folder when `version` is given.
        version: None, a positive int, or "next".
    """
    path = os.fspath(path)
    if version is None:
        return path
    if version == "next":
        return os.path.join(path, str(max(_version_folders(path), default=0) + 1))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive int or 'next' (TF Serving's numbered folders); got "
                         f"{version!r}.")
    return os.path.join(path, str(version))


VERSION_LOCK = ".keras_hier_versions.lock"


@contextlib.contextmanager
def _versions_locked(base):
    """Holds an exclusive lock on TF Serving's base folder `base` (a lock file in it, `fcntl.flock`): exports with
    `version="next"` into one base folder take their numbers one after the other, so two never pick the same one.
    The lock goes with the process (a killed exporter holds nothing). Without `fcntl` (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    os.makedirs(base, exist_ok=True)
    fd = os.open(os.path.join(base, VERSION_LOCK), os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def saved_model_directory(path, version=None):
    """Yields `(tmp, target)`: a temporary folder to write a SavedModel into, and the folder it becomes,
    `export_path(path, version)`. When the block succeeds it is installed there, marked as keras_hier's (so a later
    export may replace it). An existing folder that is not an earlier keras_hier export (a TF Serving base folder,
    a user's folder) is refused before anything is written. With `version="next"` the base folder is locked from
    choosing the number to installing the folder: concurrent exports get distinct versions.

    Args:
        path: the SavedModel folder, or TF Serving's base folder with `version`.
        version: None, a positive int or "next" (see `export_path`).
    """
    from keras_hier import __version__

    path = os.fspath(path)
    with _versions_locked(path) if version == "next" else contextlib.nullcontext():
        target = export_path(path, version)
        with atomic_directory(target, may_replace=_refuse_foreign_folder) as tmp:
            yield tmp, target
            with open(os.path.join(tmp, EXPORT_MARKER), "w") as f:
                json.dump({"written_by": "keras_hier", "keras_hier_version": __version__}, f)
            _normal_mode(os.path.join(tmp, EXPORT_MARKER))


def _empty_batch_safe(serve):
    """`serve` that also answers a batch of zero images: with empty outputs of the right shape and dtype (some
    kernels, e.g. oneDNN's batch norm after a convolution, fail on an empty batch). The empty outputs are built from
    the static shapes of the traced outputs of the non-empty branch, so the model is traced once; a batch with
    images runs `serve` as it is."""
    import tensorflow as tf

    def safe(*inputs):
        traced = []

        def full():
            outputs = serve(*inputs)
            traced.append(outputs)
            return outputs

        def empty():
            def nothing(t):
                shape = [0] + [d if d is not None else 0 for d in t.shape.as_list()[1:]]
                return tf.reshape(tf.constant([], t.dtype), shape) if t.shape.rank else t

            if traced:  # tf.cond traces the true branch first
                return tf.nest.map_structure(nothing, traced[0])
            padded = [tf.concat([x, tf.zeros(tf.concat([[1], tf.shape(x)[1:]], 0), x.dtype)], 0) for x in inputs]
            return tf.nest.map_structure(lambda t: t[:0] if t.shape.rank else t, serve(*padded))

        return tf.cond(tf.shape(inputs[0])[0] > 0, full, empty)

    return safe


def _checking_shapes(serve, input_signature):
    """`serve` behind a check that each input has its signature's known dimensions (a SavedModel signature does not
    check them itself): an `InvalidArgumentError` naming the expected shape otherwise."""
    import tensorflow as tf

    def expected(spec):
        return "[" + ", ".join("batch" if d is None and i == 0 else ("any" if d is None else str(d))
                               for i, d in enumerate(spec.shape)) + "]"

    def checked(*inputs):
        checks = []
        for x, spec in zip(inputs, input_signature):
            dims = list(spec.shape)
            known = [i for i, d in enumerate(dims) if d is not None]
            shape = tf.shape(x)
            if known:
                same = tf.logical_and(
                    tf.equal(tf.size(shape), len(dims)),
                    tf.reduce_all(tf.equal(tf.gather(tf.concat([shape, tf.zeros([len(dims)], tf.int32)], 0), known),
                                           [dims[i] for i in known])))
            else:
                same = tf.equal(tf.size(shape), len(dims))
            checks.append(tf.debugging.Assert(same, [
                f"`{spec.name or 'input'}` must have shape {expected(spec)} ({spec.dtype.name}); got shape", shape,
                "- resize the images to the model's input size (or export with resize=True)."]))
        with tf.control_dependencies(checks):
            return _empty_batch_safe(serve)(*[tf.identity(x) for x in inputs])

    return checked


def write_saved_model(path, tracked, serve, input_signature, version=None):
    """Writes a SavedModel whose `serve` and `serving_default` signatures run `serve`, atomically.

    Inputs whose shape differs from `input_signature`'s known dimensions are refused with an `InvalidArgumentError`
    naming the expected shape; a batch of zero inputs gets empty outputs of the right shape. The folder is replaced
    only if it is empty or an earlier keras_hier export (`saved_model_directory`).

    Args:
        path: the SavedModel folder, or TF Serving's base folder with `version`.
        tracked: the Keras model(s) whose variables `serve` uses (one or a list).
        serve: a function of the input tensors returning a dict of output tensors (or a tensor).
        input_signature: list of `tf.TensorSpec` of `serve`'s inputs.
        version: None, a positive int or "next" (TF Serving's `path/<version>/` layout).

    Returns:
        The folder written.
    """
    import keras

    archive = keras.export.ExportArchive()
    for model in tracked if isinstance(tracked, (list, tuple)) else [tracked]:
        archive.track(model)
    # One endpoint: `write_out` makes the first one `serving_default` too. Keras traces each endpoint twice, so a
    # second endpoint doubled the traces (profiled: about 10 of a HierNet recipe export's 35 s).
    archive.add_endpoint("serve", _checking_shapes(serve, input_signature), input_signature=input_signature)
    with saved_model_directory(path, version) as (tmp, target):
        archive.write_out(tmp, verbose=False)
    return target
