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
    parser.add_argument("--seeds", default=[0], type=lambda text: [int(s) for s in text.split(",")])
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
    assert not any(key.startswith("val_") for key in history)  # no empty val_ columns
    assert history["learning_rate"] == pytest.approx([0.05, 0.05, 0.025, 0.0125])  # halved after each epoch but the first
    assert not (tmp_path / "a" / "checkpoints" / "stage" / "snapshots").exists()  # removed once the stage finished
    with pytest.raises(KeyboardInterrupt):
        train(Training(args(tmp_path / "b")), interrupt_after=2)  # epochs 1-2 backed up, the third lost
    snapshots = tmp_path / "b" / "checkpoints" / "stage" / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == ["epoch-0001", "epoch-0002"]  # the last two kept
    assert json.loads((snapshots / "epoch-0002" / "state.json").read_text())["epoch"] == 2
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
    # Other seeds are other stages (seed{S}/...): a run may add seeds on resuming, its checkpoints kept.
    Training(args(tmp_path / "b", "--resume", "--seeds", "0,1,2"))._start()
    assert (tmp_path / "b" / "checkpoints" / "stage" / "final.weights.h5").exists()
    # A run started before a flag existed (its run.json without it) resumes: the new flag's default is its behaviour.
    marker = tmp_path / "b" / "checkpoints" / "run.json"
    marker.write_text(json.dumps({k: v for k, v in json.loads(marker.read_text()).items() if k != "lr"}))
    Training(args(tmp_path / "b", "--resume"))._start()
    assert (tmp_path / "b" / "checkpoints" / "stage" / "final.weights.h5").exists()


def test_a_run_of_fewer_seeds_keeps_the_other_seeds_checkpoints(tmp_path, capsys):
    """`--seeds 0,1,2` cut short in seed 2, then `--resume --seeds 0,1` finishing: seed 2's progress stays."""
    root = tmp_path / "checkpoints"
    for seed in (0, 1, 2):
        (root / f"seed{seed}" / "backbone").mkdir(parents=True)
    (root / "run.json").write_text("{}")
    Training(args(tmp_path, "--seeds", "0,1")).remove_checkpoints()
    assert sorted(p.name for p in root.iterdir()) == ["run.json", "seed2"]
    assert "Checkpoints of seed2 kept" in capsys.readouterr().out
    Training(args(tmp_path, "--seeds", "2")).remove_checkpoints()  # nothing of other seeds left: all of it goes
    assert not root.exists()


def interrupted_run(tmp_path, name, after=2):
    """A run interrupted after epoch `after` of 4 (its snapshots kept), and the uninterrupted run's model."""
    with pytest.raises(KeyboardInterrupt):
        train(Training(args(tmp_path / name)), interrupt_after=after)
    return tmp_path / name


def assert_same_state(a, b):
    for x, y in zip(a.variables + a.optimizer.variables, b.variables + b.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_damaged_snapshot_falls_back_to_the_previous_one_whole(tmp_path, capsys):
    """The newest snapshot's weights cut to a third: the stage resumes from the snapshot before it, weights, optimizer,
    epoch and data position together, says so, and still ends as the uninterrupted run. Keras' BackupAndRestore
    restored the older weights with the newer epoch (training one epoch too few on a shifted data stream)."""
    whole, history, _ = train(Training(args(tmp_path / "a")))
    run = interrupted_run(tmp_path, "b")
    weights = run / "checkpoints" / "stage" / "snapshots" / "epoch-0002" / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    resumed, history_b, _ = train(Training(args(run, "--resume")))
    said = capsys.readouterr().out
    assert "epoch 2 is damaged" in said and "checksum" in said and "resuming at epoch 2 of 4" in said
    assert_same_state(whole, resumed)
    assert history_b["loss"] == pytest.approx(history["loss"])
    assert (run / "logs" / "stage.csv").read_text() == (tmp_path / "a" / "logs" / "stage.csv").read_text()


def test_no_usable_snapshot_stops_and_names_the_files(tmp_path):
    run = interrupted_run(tmp_path, "b")
    snapshots = run / "checkpoints" / "stage" / "snapshots"
    (snapshots / "epoch-0002" / "model.weights.h5").write_bytes(b"")
    (snapshots / "epoch-0001" / "state.json").write_text('{"epoch": 1, "weights_sh')
    with pytest.raises(SystemExit, match=r"(?s)no usable snapshot.*epoch-0001.*state\.json.*without --resume"):
        train(Training(args(run, "--resume")))
    assert (snapshots / "epoch-0002").exists()  # nothing deleted


def test_resume_never_deletes_checkpoints_it_cannot_match(tmp_path):
    run = interrupted_run(tmp_path, "b")
    (run / "checkpoints" / "run.json").unlink()
    (run / "checkpoints" / "run.json.bkp").unlink()
    with pytest.raises(SystemExit, match="not their run.json.*without --resume"):
        Training(args(run, "--resume"))
    assert (run / "checkpoints" / "stage" / "snapshots" / "epoch-0002").exists()
    fresh = Training(args(tmp_path / "new", "--resume"))  # nothing to resume: a plain start
    assert not (tmp_path / "new").exists()  # nothing on disk before the first stage (a usage error leaves none)
    train(fresh)
    assert fresh.args.resume and (tmp_path / "new" / "checkpoints" / "run.json").exists()


def test_damaged_run_records_fall_back_to_their_copy_or_name_the_file(tmp_path, capsys):
    whole, _, _ = train(Training(args(tmp_path / "a")))
    run = interrupted_run(tmp_path, "b")
    marker = run / "checkpoints" / "run.json"
    marker.write_text(marker.read_text()[: len(marker.read_text()) // 2])
    resumed, _, _ = train(Training(args(run, "--resume")))
    assert "run.json is unreadable" in capsys.readouterr().out
    assert_same_state(whole, resumed)
    for path in (marker, run / "checkpoints" / "run.json.bkp"):
        path.write_text("")
    with pytest.raises(SystemExit, match=r"cannot read .*run\.json.*JSONDecodeError.*run\.json\.bkp"):
        Training(args(run, "--resume"))


def test_a_damaged_finished_stage_is_never_loaded(tmp_path):
    train(Training(args(tmp_path / "a")))  # finished: its final weights kept until the run ends
    final = tmp_path / "a" / "checkpoints" / "stage" / "final.weights.h5"
    final.write_bytes(final.read_bytes()[:-100])
    with pytest.raises(SystemExit, match="final.weights.h5.*damaged.*Remove"):
        train(Training(args(tmp_path / "a", "--resume")))


def test_the_epoch_log_keeps_one_row_per_epoch(tmp_path):
    """The CSV log is rewritten whole (atomically) each epoch; a resumed stage keeps the rows of the epochs before its
    snapshot, so an epoch logged but not in the snapshot appears once; columns an epoch lacks are "NA"."""
    from recipes._training import _read_log, _stage_callbacks

    EpochLog = _stage_callbacks()[2]
    log = tmp_path / "logs" / "stage.csv"
    first = EpochLog(str(log))
    first.on_train_begin()
    for epoch, loss in enumerate((2.5, 2.0, 1.5)):
        first.on_epoch_end(epoch, {"loss": loss, **({"val_loss": 3.0} if epoch == 1 else {})})
    assert log.read_text() == "epoch,loss,val_loss\n0,2.5,NA\n1,2.0,3.0\n2,1.5,NA\n"
    resumed = EpochLog(str(log), first_epoch=2)
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"loss": 1.25})
    assert _read_log(str(log)) == {"loss": [2.5, 2.0, 1.25], "val_loss": ["NA", 3.0, "NA"]}
    assert [p.name for p in log.parent.iterdir()] == ["stage.csv"]  # no temporary file left
