"""recipes._training.Training: stage lengths, logs, budgets, and exact resume of an interrupted stage (with a
plateau rule's state), on a tiny model."""

import argparse
import json

import keras
import numpy as np
import pytest

from keras_hier.datasets.pipeline import make_dataset
from recipes._training import Training, add_training_flags

X = np.random.default_rng(0).integers(0, 256, (40, 6, 6)).astype(np.uint8)
Y = np.arange(40) % 3


def args(tmp_path, *argv):
    parser = argparse.ArgumentParser()
    add_training_flags(parser)
    parser.add_argument("--output", default=str(tmp_path))
    parser.add_argument("--lr", type=float, default=0.05)
    return parser.parse_args(list(argv))


def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    net.compile(keras.optimizers.SGD(0.05, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return net


def batches(first):
    return make_dataset(X, Y, batch_size=8, augment="hiernet", shuffle=True, seed=1, repeat=True, first_batch=first)


def train(training, interrupt_after=None):
    net = model()
    plateau = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)  # cuts every epoch
    callbacks = [plateau]
    if interrupt_after is not None:
        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == interrupt_after:
                    raise KeyboardInterrupt

        callbacks.append(Interrupt())  # before the backup: this epoch is never saved
    budget = []
    history = training.fit("stage", net, batches, training.stage_steps(4, 5), 5, budget, callbacks=callbacks,
                           keep_state=[(plateau, ("wait", "best", "cooldown_counter"))], verbose=0)
    return net, history, budget


def test_stage_lengths(tmp_path):
    assert Training(args(tmp_path)).stage_steps(2.5, 10) == 25
    assert Training(args(tmp_path, "--steps-per-epoch", "4")).stage_steps(2.5, 10) == 10
    assert Training(args(tmp_path, "--max-steps", "7")).stage_steps(2.5, 10) == 7


def test_interrupted_stage_resumes_exactly(tmp_path):
    whole, history, budget = train(Training(args(tmp_path / "a")))
    assert budget[0]["steps"] == 20 and len(history["loss"]) == 4
    assert not any(key.startswith("val_") for key in history)  # CSVLogger's empty val_ columns left out
    assert history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025, 0.0125])  # halved after each epoch but the first
    assert not (tmp_path / "a" / "checkpoints" / "stage" / "backup").exists()  # removed once the stage finished
    with pytest.raises(KeyboardInterrupt):
        train(Training(args(tmp_path / "b")), interrupt_after=2)  # epochs 1-2 backed up, the third lost
    state = json.loads((tmp_path / "b" / "checkpoints" / "stage" / "backup" / "training_metadata.json").read_text())
    assert state["epoch"] == 2
    resumed, history_b, budget_b = train(Training(args(tmp_path / "b", "--resume")))
    for a, b in zip(whole.variables + whole.optimizer.variables, resumed.variables + resumed.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # weights, slots, the plateau's rate
    assert budget_b == budget and history_b["loss"] == pytest.approx(history["loss"])
    assert (tmp_path / "b" / "logs" / "stage.csv").read_text() == (tmp_path / "a" / "logs" / "stage.csv").read_text()
    # A finished stage is loaded, not trained, by a resumed run; other flags are refused.
    again, history_c, _ = train(Training(args(tmp_path / "b", "--resume")))
    for a, b in zip(whole.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(SystemExit, match="other flags.*--lr"):
        Training(args(tmp_path / "b", "--resume", "--lr", "0.1"))


def test_a_resumed_stage_logs_each_epoch_once(tmp_path):
    """An epoch logged but not backed up (interrupted between the CSV row and the backup) runs again on resuming:
    the log keeps the header and the backed-up epochs' rows only, so that the row is not written twice."""
    from recipes._training import _read_log, _truncate_log

    log = tmp_path / "stage.csv"
    log.write_bytes(b"epoch,loss\r\n0,2.5\r\n1,2.0\r\n2,1.5\r\n")  # CSVLogger's line ends
    _truncate_log(str(log), 2)
    assert log.read_bytes() == b"epoch,loss\r\n0,2.5\r\n1,2.0\r\n"
    assert _read_log(str(log)) == {"loss": [2.5, 2.0]}
    _truncate_log(str(tmp_path / "missing.csv"), 1)  # no log yet: nothing to do
    assert not (tmp_path / "missing.csv").exists()
