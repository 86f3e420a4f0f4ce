"""keras_hier/_io.py: exports never destroy a folder that is not theirs, support TF Serving's versions, replace
atomically (the old export is back if the move fails), clean a killed writer's leftovers, and write files with the
usual permissions."""

import os
import stat
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hier import _io
from keras_hier.export import export_serving


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_tf_serving_base_folder_or_a_user_folder_is_never_replaced(model, tmp_path):
    base = tmp_path / "serving"
    for version in ("1", "2"):
        (base / version).mkdir(parents=True)
        (base / version / "saved_model.pb").write_text("someone's model")
    with pytest.raises(FileExistsError, match=r"TF Serving base folder \(versions 1, 2\).*version=\"next\""):
        export_serving(model, base, verbose=False)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a SavedModel written by keras_hier"):
        export_serving(model, mine, verbose=False)
    assert (mine / "thesis.tex").read_text() == "precious" and sorted(os.listdir(base)) == ["1", "2"]
    assert not [e for e in os.listdir(tmp_path) if e.startswith(".")]  # refused before writing anything


def test_versions_and_replacing_an_earlier_export(model, tmp_path):
    base = tmp_path / "serving"
    (base / "2").mkdir(parents=True)
    (base / "2" / "saved_model.pb").write_text("someone's model")
    assert export_serving(model, base, version="next", verbose=False) == str(base / "3")
    assert export_serving(model, base, version="next", verbose=False) == str(base / "4")
    with pytest.raises(FileExistsError):
        export_serving(model, base, version=2, verbose=False)  # not ours
    marker = base / "4" / _io.EXPORT_MARKER
    before = marker.stat().st_ino
    assert export_serving(model, base, version=4, verbose=False) == str(base / "4")  # ours: replaced
    assert marker.stat().st_ino != before and sorted(os.listdir(base)) == [_io.VERSION_LOCK, "2", "3", "4"]
    for bad in (0, -1, "latest", 1.5, True):
        with pytest.raises(ValueError, match="version"):
            _io.export_path(base, bad)


def test_concurrent_next_versions_never_share_a_folder(tmp_path):
    # Two writers that pick "next" at the same moment: without the lock both chose 1 and one replaced the other.
    import threading

    base, chosen, errors = tmp_path / "serving", [], []
    started = threading.Barrier(2)

    def export():
        try:
            started.wait()
            with _io.saved_model_directory(base, version="next") as (tmp, target):
                with open(os.path.join(tmp, "saved_model.pb"), "w") as f:
                    f.write(target)
                threading.Event().wait(0.3)  # a slow export: the other one would pick its number meanwhile
            chosen.append(target)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=export) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(chosen) == [str(base / "1"), str(base / "2")]
    for version in ("1", "2"):  # each folder holds its own export
        assert (base / version / "saved_model.pb").read_text() == str(base / version)


def test_non_decimal_folder_names_are_not_versions(model, tmp_path):
    base = tmp_path / "serving"
    for name in ("²", "٣", "1a", "3"):
        (base / name).mkdir(parents=True)
    (base / "7").write_text("a file, not a version")
    assert export_serving(model, base, version="next", verbose=False) == str(base / "4")
    assert not _io.is_decimal("²") and not _io.is_decimal("") and _io.is_decimal("012")


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "two-renames"])
def test_a_failed_move_leaves_the_old_export_in_place(model, tmp_path, monkeypatch, swap):
    path = tmp_path / "served"
    export_serving(model, path, verbose=False)
    old = sorted(os.listdir(path))
    (path / "witness").write_text("old")  # keras_hier's export, still marked as such
    if not swap:
        monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def failing_rename(src, dst):
        if os.path.basename(str(src)).startswith(".tmp-") and os.fspath(dst) == str(path):
            raise OSError("disk on fire")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    monkeypatch.setattr(_io, "_exchange", lambda a, b: (_ for _ in ()).throw(OSError("disk on fire")) if swap
                        else False)
    with pytest.raises(OSError, match="disk on fire"):
        export_serving(model, path, verbose=False)
    assert (path / "witness").read_text() == "old" and set(old) <= set(os.listdir(path))
    assert not [e for e in os.listdir(tmp_path) if e.startswith(".")]


def test_a_killed_writers_leftovers_are_cleaned_and_a_lost_export_restored(tmp_path):
    path = tmp_path / "served"
    pid = dead_pid()
    stale = tmp_path / f".tmp-served-{pid}-abc"
    stale.mkdir()
    (stale / "half.pb").write_text("half")
    aside = tmp_path / f".old-served-{pid}-def"  # killed between moving the old export aside and the new one in
    aside.mkdir()
    (aside / "saved_model.pb").write_text("old")
    running = tmp_path / f".tmp-served-{os.getpid()}-ghi"  # a live writer's folder is left alone
    running.mkdir()
    _io._clean_stale(path)
    assert (path / "saved_model.pb").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == sorted([running.name, "served"])


def test_files_and_folders_get_the_usual_permissions(model, tmp_path):
    old = os.umask(0o022)
    try:
        _io.write_text_atomic(tmp_path / "metrics.json", "{}")
        from keras_hier import Hierarchy, plotting

        Hierarchy.from_nested({"r": ["a", "b"]}).to_json(tmp_path / "tree.json")
        plotting.plot_bars({"a": 1.0, "b": 2.0}, tmp_path / "bars.png", "accuracy")
        export_serving(model, tmp_path / "served", verbose=False)
    finally:
        os.umask(old)
    for name in ("metrics.json", "tree.json", "bars.png"):
        assert mode(tmp_path / name) == 0o644, name
    for root, dirs, files in os.walk(tmp_path / "served"):
        assert mode(root) == 0o755, root
        for f in files:
            assert mode(os.path.join(root, f)) == 0o644, f


def test_the_serving_signature_enforces_the_image_shape(model, tmp_path):
    import tensorflow as tf

    export_serving(model, tmp_path / "served", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served")).signatures["serving_default"]
    assert served(images=tf.zeros([2, 6, 6, 1], tf.uint8))["probabilities"].shape == (2, 3)
    for wrong in ([1, 64, 64, 1], [1, 6, 6, 3], [6, 6, 1]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"must have shape \[batch, 6, 6, 1\] \(uint8\)"):
            served(images=tf.zeros(wrong, tf.uint8))
    assert np.isfinite(served(images=tf.zeros([0, 6, 6, 1], tf.uint8))["probabilities"].numpy()).all()


def test_a_full_disk_leaves_no_half_written_model_or_weights(tmp_path):
    """A file-size limit (what a full disk looks like to the writer: EFBIG / ENOSPC) stops `.keras` and weights saves
    part way: the destination keeps its old content or stays absent, and no temporary file remains. Keras' own
    `model.save` left a 1.6 of 2 MB `hiernet.keras` that was not a valid zip."""
    code = f"""
import os, resource, signal
import keras
from keras_hier._io import save_model_atomic, save_weights_atomic
out = {str(tmp_path)!r}
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(4096)])  # 1 MB of weights
with open(os.path.join(out, "old.weights.h5"), "w") as f:
    f.write("old")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
for save, name in ((save_model_atomic, "model.keras"), (save_weights_atomic, "old.weights.h5")):
    try:
        save(model, os.path.join(out, name))
        print("saved", name)
    except OSError as e:
        print("refused", name)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[:2] == ["refused model.keras", "refused old.weights.h5"], done.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == ["old.weights.h5"]
    assert (tmp_path / "old.weights.h5").read_text() == "old"
