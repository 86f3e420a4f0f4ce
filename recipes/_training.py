"""`Training`: every `fit` of a recipe, resumable, logged and budgeted alike.

A recipe trains in named stages (`"seed0/backbone"`, `"seed0/hiernet"`, ...). `Training.fit` runs one stage:

- its length: `--steps-per-epoch` (default: the stage's own pass over the data) and `--max-steps`, which caps every
  stage for a smoke run (`stage_steps`; recipes lay their learning-rate schedules over the capped length);
- `--resume`: each epoch ends in a snapshot under OUTPUT/checkpoints/STAGE (`recipes._snapshots`: weights, optimizer
  and random state, epoch and callback state, written together, atomically, with a checksum), and a finished stage
  keeps its final weights there, so a rerun with `--resume` skips finished stages and restarts an interrupted one at
  its last complete snapshot (the previous one, announced, if the last is damaged). The data stream restarts at the
  batch that snapshot had reached (`make_dataset`'s `first_batch`), so the run ends with the weights an
  uninterrupted run ends with. `--resume` never deletes work: checkpoints it cannot match to the run stop it with
  an error. A successful run removes OUTPUT/checkpoints at the end;
- logs: one CSV row per epoch in OUTPUT/logs/STAGE.csv (rewritten atomically each epoch), TensorBoard summaries in
  OUTPUT/tensorboard/STAGE with `--tensorboard`, and the per-epoch history for metrics.json (`history`);
- the budget: the steps the stage ran and the optimizer's configuration as it began (`budget_difference`
  compares them between a method and its baseline).
"""

import functools
import json
import math
import os
import re
import shutil

from . import _snapshots

# Flags that do not change what a run computes: a run resumed with other values of these is the same run. Each
# seed's stages are checkpointed under their own names (`seed{S}/...`) and do not depend on the other seeds, so a
# resumed run may add seeds to a run (`--seeds 0` then `--seeds 0,1,2`) or finish some of them.
_NOT_COMPARED = ("resume", "tensorboard", "output", "command", "no_export", "seeds")


def add_training_flags(parser):
    """Adds `--steps-per-epoch`, `--max-steps`, `--resume` and `--tensorboard` (see `Training`)."""
    from ._common import POSITIVE_INT

    parser.add_argument("--steps-per-epoch", type=POSITIVE_INT, default=None,
                        help="batches per epoch (the unit of logs and of --resume); default: one pass over the "
                             "training data. Fewer make a shorter run: stages keep their number of epochs")
    parser.add_argument("--max-steps", type=POSITIVE_INT, default=None,
                        help="stop every training stage after this many steps (smoke runs; schedules are laid out "
                             "over the shortened stage)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run with the same flags and --output: finished stages are "
                             "skipped, an interrupted one restarts at its last epoch (same final weights)")
    parser.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUTPUT/tensorboard")


class Training:
    """The training stages of one recipe run (see the module's docstring).

    Args:
        args: the recipe's parsed flags (`output`, and those of `add_training_flags`).

    Example (a recipe's stage; `batches(first_batch)` returns the endless training stream):
    >>> training = Training(args)  # doctest: +SKIP
    >>> steps = training.stage_steps(epochs, len(x) // batch_size)  # doctest: +SKIP
    >>> model.compile(optimizer=keras.optimizers.SGD(schedule_over(steps)), ...)  # doctest: +SKIP
    >>> training.fit("seed0/backbone", model, batches, steps, len(x) // batch_size, budget)  # doctest: +SKIP
    """

    def __init__(self, args):
        self.args = args
        self.history = {}
        self.root = os.path.join(args.output, "checkpoints")
        settings = {k: v for k, v in sorted(vars(args).items()) if k not in _NOT_COMPARED}
        marker = os.path.join(self.root, "run.json")
        if args.resume and _holds_anything(self.root):
            if not os.path.exists(marker) and not os.path.exists(marker + ".bkp"):
                raise SystemExit(f"--resume: {self.root} holds checkpoints but not their run.json (the flags they were "
                                 "trained with), so they cannot be matched to this run. Rerun without --resume to "
                                 f"start afresh (this deletes {self.root}), or restore run.json.")
            before = _read_json(marker)
            # Flags added to a recipe after the run started are not compared: a new flag's default keeps the
            # behaviour the run had.
            changed = sorted(k for k in (set(before) & set(settings)) - set(_NOT_COMPARED)
                             if before[k] != _jsonable(settings[k]))
            if changed:
                raise SystemExit(f"--resume: the checkpoints in {self.root} come from a run with other flags "
                                 f"({', '.join('--' + k.replace('_', '-') for k in changed)}). Rerun with the same "
                                 "flags, or without --resume to start again.")
            self._marker = None  # resuming: the checkpoints and their run.json stay as they are
        else:
            if args.resume:
                print(f"--resume: no checkpoints in {self.root}; starting from the beginning")
            # Written when the first stage starts: a run stopped before (a usage or data error) leaves nothing.
            self._marker = (marker, {k: _jsonable(v) for k, v in settings.items()})

    def _start(self):
        """Before the first stage of a new run: an old run's checkpoints removed (they would not match), the flags
        written to `checkpoints/run.json`."""
        if self._marker is None:
            return
        marker, settings = self._marker
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)
        os.makedirs(self.root, exist_ok=True)
        _write_json(marker, settings)
        self._marker = None

    def steps_per_epoch(self, steps_per_pass):
        """Batches per Keras epoch: `--steps-per-epoch`, else `steps_per_pass` (one pass over the training data)."""
        return max(1, int(self.args.steps_per_epoch or steps_per_pass))

    def stage_steps(self, epochs, steps_per_pass):
        """The steps of a stage of `epochs` epochs (a float) of `steps_per_epoch(steps_per_pass)` batches, at most
        `--max-steps`."""
        steps = max(1, int(round(epochs * self.steps_per_epoch(steps_per_pass))))
        return min(steps, self.args.max_steps) if self.args.max_steps else steps

    def fit(self, name, model, batches, steps, steps_per_pass, budget=None, callbacks=(), keep_state=(),
            verbose="auto", **fit_kwargs):
        """Trains `model` for the stage `name` (a path such as `"seed0/backbone"`) and returns its per-epoch history.

        Args:
            name: the stage's name, unique in the run.
            model: a compiled, built Keras model.
            batches: `batches(first_batch)`: the endless training stream from batch `first_batch` on (e.g.
                `make_batches(..., repeat=True, first_batch=first_batch)`).
            steps: the stage's steps (`stage_steps`).
            steps_per_pass: batches in one pass over the training data (the default epoch).
            budget: an optional list the stage appends its budget to (`{"steps", "optimizer"}`).
            callbacks: more Keras callbacks.
            keep_state: `(callback, attribute names)` pairs whose values a resumed stage restores (e.g. a
                `ReduceLROnPlateau`'s `("wait", "best", "cooldown_counter")`).
            verbose: `fit`'s verbosity; `"auto"`: a progress bar per step in a terminal, a line per epoch in a log.
            **fit_kwargs: more `fit` arguments (`validation_data`, ...).
        """
        import keras

        self._start()
        per_epoch = min(self.steps_per_epoch(steps_per_pass), steps)
        epochs = math.ceil(steps / per_epoch)
        folder = os.path.join(self.root, *name.split("/"))
        final = os.path.join(folder, "final.weights.h5")
        if self.args.resume and (os.path.exists(final + ".json") or os.path.exists(final + ".json.bkp")):
            done = _read_json(final + ".json")
            if not os.path.isfile(final) or _snapshots.sha256(final) != done.get("weights_sha256"):
                raise SystemExit(f"--resume: {final}, the final weights of the finished stage {name}, is missing or "
                                 f"damaged (its checksum does not match). Remove {folder} to train that stage again "
                                 "with --resume, or rerun without --resume.")
            _build_optimizer(model)
            model.load_weights(final)
            print(f"{name}: finished in an earlier run, its weights loaded ({done['budget']['steps']} steps)")
            if budget is not None:
                budget.append(done["budget"])
            self.history[name] = done["history"]
            return done["history"]
        if not self.args.resume and os.path.isdir(folder):
            shutil.rmtree(folder)
        snapshots = os.path.join(folder, "snapshots")
        if self.args.resume and os.path.exists(os.path.join(folder, "backup", "latest.weights.h5")):
            raise SystemExit(f"--resume: {folder} holds a backup in the layout of an older keras_hier; rerun without "
                             "--resume to start afresh.")
        optimizer = _optimizer_config(model)  # as the stage began: before a snapshot restores a plateau rule's rate
        snapshot = _snapshots.latest_snapshot(snapshots) if self.args.resume else None
        first_epoch = snapshot.epoch if snapshot else 0
        if snapshot:
            _build_optimizer(model)
            try:
                model.load_weights(snapshot.weights)
            except Exception as e:  # noqa: BLE001 - a verified file the model does not fit: say which
                raise SystemExit(f"--resume: {snapshot.weights} does not fit the model ({e}). Rerun without --resume "
                                 "to start afresh.") from e
            print(f"{name}: resuming at epoch {first_epoch + 1} of {epochs}")
        log = os.path.join(self.args.output, "logs", *name.split("/")) + ".csv"
        StageRecord, StopAfter, EpochLog, Snapshots = _stage_callbacks()
        record = StageRecord(steps, per_epoch, optimizer)
        stage_callbacks = [record, *callbacks, StopAfter(steps, per_epoch), EpochLog(log, first_epoch)]
        if self.args.tensorboard:
            board = os.path.join(self.args.output, "tensorboard", *name.split("/"))
            stage_callbacks.append(keras.callbacks.TensorBoard(board))
        # Last: it saves the epoch once every other callback has updated its state (a plateau rule, the optimizer).
        stage_callbacks.append(Snapshots(snapshots, keep_state, snapshot.state if snapshot else None))
        fit_kwargs.setdefault("shuffle", False)  # the stream is shuffled already
        from keras_hier._training_state import build_before_fit

        stream = batches(first_epoch * per_epoch)
        build_before_fit(model, stream)  # the first step is then traced once
        if verbose == "auto":
            from ._terminal import progress_verbosity

            verbose = progress_verbosity()
        model.fit(stream, steps_per_epoch=per_epoch, epochs=epochs, initial_epoch=first_epoch, verbose=verbose,
                  callbacks=stage_callbacks, **fit_kwargs)
        history = _read_log(log)
        from keras_hier._io import save_weights_atomic

        save_weights_atomic(model, final)
        done = {"budget": {"steps": record.steps, "optimizer": record.optimizer}, "history": history,
                "weights_sha256": _snapshots.sha256(final)}
        _write_json(final + ".json", done)
        shutil.rmtree(snapshots, ignore_errors=True)  # the final weights replace them
        if budget is not None:
            budget.append(done["budget"])
        self.history[name] = history
        return history

    def finish(self, metrics, start):
        """Ends a successful run: adds every stage's `history` to `metrics`, writes metrics.json
        (`recipes._common.write_metrics`), removes the run's checkpoints and returns `metrics`."""
        from ._common import write_metrics

        metrics["history"] = self.history
        metrics = write_metrics(self.args.output, metrics, start)
        self.remove_checkpoints()
        return metrics

    def remove_checkpoints(self):
        """Removes OUTPUT/checkpoints (backups and finished stages' weights), once the run needs them no more. Where
        they hold stages of seeds this run did not train (a run resumed with fewer `--seeds` than it began with),
        only this run's seeds' stages go: the others' progress stays for a later `--resume`."""
        seeds = getattr(self.args, "seeds", None)
        others = sorted(name for name in (os.listdir(self.root) if os.path.isdir(self.root) else ())
                        if re.fullmatch(r"seed\d+", name) and seeds is not None and int(name[4:]) not in seeds)
        if not others:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for seed in seeds:
            shutil.rmtree(os.path.join(self.root, f"seed{seed}"), ignore_errors=True)
        print(f"Checkpoints of {', '.join(others)} kept in {self.root} (not in this run's --seeds): resume them with "
              "--resume and those seeds.")


def _build_optimizer(model):
    """Creates the optimizer's variables, so that loading a weights file restores them too."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _optimizer_config(model):
    """The configuration of the model's optimizer (the inner one of a loss-scale optimizer), without its name."""
    import keras

    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    config = keras.optimizers.serialize(optimizer)
    config["config"].pop("name", None)
    return config


def _holds_anything(folder):
    return os.path.isdir(folder) and bool(os.listdir(folder))


def _read_log(path):
    """The CSV log as `{metric: [one value per epoch]}` (the last row of an epoch written twice winning)."""
    import csv

    rows = {}
    if os.path.exists(path):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                rows[int(row.pop("epoch"))] = row
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if all(row.get(key) == "NA" for row in rows.values()):
                continue  # the val_ columns of a fit without validation
            try:
                history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                history.setdefault(key, []).append(value)
    return history


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _write_json(path, data):
    """Writes `data` to `path` and to `path.bkp`, each atomically (`_read_json` falls back on the copy)."""
    from keras_hier._io import write_text_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = json.dumps(data, indent=1, default=str)
    write_text_atomic(path + ".bkp", text)
    write_text_atomic(path, text)


def _read_json(path):
    """The JSON in `path`, else (missing, cut, not JSON) in `path.bkp`, said so; SystemExit names both otherwise."""
    problems = []
    for candidate in (path, path + ".bkp"):
        try:
            with open(candidate, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            problems.append(f"{candidate}: {type(e).__name__}: {e}")
            continue
        if problems:
            print(f"--resume: {path} is unreadable ({problems[0]}); using its copy {candidate}")
        return data
    raise SystemExit("--resume: cannot read " + "; ".join(problems) + ". Rerun without --resume to start afresh.")


@functools.lru_cache(maxsize=None)
def _stage_callbacks():
    """The stage's callback classes (defined on first use: they need keras, and `--help` should stay quick)."""
    import keras

    class StageRecord(keras.callbacks.Callback):
        """The stage's steps (counted across a resume) and its optimizer's configuration as it began."""

        def __init__(self, steps, per_epoch, optimizer):
            super().__init__()
            self.limit, self.per_epoch, self.steps, self.optimizer = steps, per_epoch, 0, optimizer

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.steps = min(self.limit, self.epoch * self.per_epoch + batch + 1)

    class StopAfter(keras.callbacks.Callback):
        """Ends the last epoch once the stage has run its steps."""

        def __init__(self, steps, per_epoch):
            super().__init__()
            self.steps, self.per_epoch = steps, per_epoch

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch * self.per_epoch + batch + 1 >= self.steps:
                self.model.stop_training = True

    class EpochLog(keras.callbacks.Callback):
        """One CSV row per epoch (`epoch` counted from 0, then the logs' keys in order, "NA" where an epoch lacks
        one), the whole file rewritten atomically after each epoch; a resumed stage keeps the rows of the epochs
        before `first_epoch` (an epoch logged but not in the snapshot runs again: one row for it)."""

        def __init__(self, path, first_epoch=0):
            super().__init__()
            self.path, self.first_epoch = path, first_epoch

        def on_train_begin(self, logs=None):
            import csv

            self.rows = []
            if self.first_epoch and os.path.exists(self.path):
                with open(self.path, newline="") as f:
                    self.rows = [row for row in csv.DictReader(f) if int(row["epoch"]) < self.first_epoch]

        def on_epoch_end(self, epoch, logs=None):
            import csv
            import io

            from keras_hier._io import write_text_atomic

            self.rows = [row for row in self.rows if int(row["epoch"]) != epoch]
            self.rows.append({"epoch": epoch, **{k: _csv_value(v) for k, v in (logs or {}).items()}})
            keys = ["epoch"] + sorted({k for row in self.rows for k in row} - {"epoch"})
            text = io.StringIO()
            writer = csv.DictWriter(text, keys, restval="NA", lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            write_text_atomic(self.path, text.getvalue())

    class Snapshots(keras.callbacks.Callback):
        """Writes a snapshot after each epoch (`recipes._snapshots`) with the attributes of `keep_state`'s callbacks,
        and restores those attributes from `state` (the snapshot resumed from) when training begins: being the last
        callback, after the others have reset themselves."""

        def __init__(self, folder, keep_state=(), state=None):
            super().__init__()
            self.folder, self.keep_state, self.state = folder, list(keep_state), state

        def on_train_begin(self, logs=None):
            for (callback, names), values in zip(self.keep_state, self.state or []):
                for attribute in names:
                    setattr(callback, attribute, values[attribute])

        def on_epoch_end(self, epoch, logs=None):
            state = [{a: _jsonable(getattr(c, a)) for a in names} for c, names in self.keep_state]
            _snapshots.write_snapshot(self.folder, self.model, epoch + 1, state)

    return StageRecord, StopAfter, EpochLog, Snapshots


def _csv_value(value):
    """A log value as CSVLogger writes it: a number, or a list of numbers."""
    import numpy as np

    array = np.asarray(value)
    return float(array) if array.ndim == 0 else "[" + ", ".join(str(v) for v in array.ravel().tolist()) + "]"
