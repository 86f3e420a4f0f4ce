"""Epoch snapshots of a training stage: everything a resumed stage needs, written together, atomically, and verified.

A snapshot is one folder, `epoch-NNNN/`, holding the model's weights file (its layers, the optimizer's state and
the random generators', see `keras_hier._training_state`) and `state.json`: the epoch it ends, the callbacks'
state to restore, and the SHA-256 of the weights file. The folder is written under a temporary name and renamed
into place (`keras_hier._io.atomic_directory`), so a snapshot is complete or absent; the checksum catches a file
damaged afterwards (a cut copy, a bad disk). The stage keeps its last two snapshots: when the newest is damaged a
resumed stage falls back to the one before and says so, with the epoch (and so the data position) of that
snapshot, never the weights of one and the epoch of another. With no usable snapshot left it stops, naming the files.
"""

import hashlib
import json
import os
import re
import shutil

_NAME = re.compile(r"^epoch-(\d+)$")
WEIGHTS = "model.weights.h5"
STATE = "state.json"
KEEP = 2


class Snapshot:
    """A verified snapshot: `epoch` (epochs done), `weights` (the weights file) and `state` (the callbacks' state)."""

    def __init__(self, epoch, weights, state):
        self.epoch, self.weights, self.state = epoch, weights, state


def sha256(path):
    """The SHA-256 hex digest of the file `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _snapshots(folder):
    """`(epoch, path)` of the snapshot folders in `folder`, newest first."""
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, e)) for e in os.listdir(folder) if (m := _NAME.match(e))]
    return sorted(found, reverse=True)


def write_snapshot(folder, model, epoch, state=None):
    """Writes the snapshot of `model` after `epoch` epochs (with the callbacks' `state`, JSON) into `folder`, then
    removes all but the newest `KEEP` snapshots.

    Args:
        folder: the stage's snapshot folder.
        model: the model (its weights file holds the optimizer's and the random generators' state too).
        epoch: epochs done.
        state: JSON-able state of the callbacks, given back by `latest_snapshot`.
    """
    from keras_hier._io import atomic_directory

    with atomic_directory(os.path.join(folder, f"epoch-{epoch:04d}")) as tmp:
        weights = os.path.join(tmp, WEIGHTS)
        model.save_weights(weights, overwrite=True)
        with open(os.path.join(tmp, STATE), "w") as f:
            json.dump({"epoch": epoch, "weights_sha256": sha256(weights), "state": state}, f)
    for _, old in _snapshots(folder)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def _check(epoch, path):
    """The `Snapshot` at `path`, or raises ValueError saying what is wrong with it."""
    weights, state_path = os.path.join(path, WEIGHTS), os.path.join(path, STATE)
    try:
        with open(state_path) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"{state_path} is unreadable ({type(e).__name__}: {e})")
    if not isinstance(record, dict) or record.get("epoch") != epoch or "weights_sha256" not in record:
        raise ValueError(f"{state_path} does not describe epoch {epoch}")
    if not os.path.isfile(weights):
        raise ValueError(f"{weights} is missing")
    if sha256(weights) != record["weights_sha256"]:
        raise ValueError(f"{weights} does not match its checksum (cut or damaged)")
    return Snapshot(epoch, weights, record.get("state"))


def latest_snapshot(folder, log=print):
    """The newest complete, undamaged snapshot in `folder` (None when there is none at all). A damaged one is
    reported through `log` and the one before it tried; when every snapshot is damaged, SystemExit names them.

    Args:
        folder: the stage's snapshot folder.
        log: where to report a damaged snapshot (default `print`).
    """
    found = _snapshots(folder)
    problems = []
    for epoch, path in found:
        try:
            snapshot = _check(epoch, path)
        except ValueError as e:
            problems.append(str(e))
            log(f"--resume: the snapshot of epoch {epoch} is damaged: {e}; trying the one before it.")
            continue
        if problems:
            log(f"--resume: resuming from the snapshot of epoch {epoch} ({path}) instead.")
        return snapshot
    if problems:
        raise SystemExit(f"--resume: no usable snapshot in {folder}: " + "; ".join(problems) + ". Remove that "
                         "folder to train this stage again from its start, or rerun without --resume.")
    return None
