"""`Training`: every `fit` of a recipe, resumable, logged and budgeted alike.

A recipe trains in named stages (`"seed0/backbone"`, `"seed0/hiernet"`, ...). `Training.fit` runs one stage:

- its length: `--steps-per-epoch` (default: the stage's own pass over the data) and `--max-steps`, which caps every
  stage for a smoke run (`stage_steps`; recipes lay their learning-rate schedules over the capped length);
- `--resume`: each epoch is backed up under OUTPUT/checkpoints/STAGE (`keras.callbacks.BackupAndRestore`), and a
  finished stage keeps its final weights there, so a rerun with `--resume` skips finished stages and restarts an
  interrupted one at its last epoch. The data stream restarts at the batch it had reached (`make_dataset`'s
  `first_batch`), and the backup holds the optimizer state and the models' random states, so the run ends with
  the weights an uninterrupted run ends with. A successful run removes OUTPUT/checkpoints at the end;
- logs: one CSV row per epoch in OUTPUT/logs/STAGE.csv (`keras.callbacks.CSVLogger`), TensorBoard summaries in
  OUTPUT/tensorboard/STAGE with `--tensorboard`, and the per-epoch history for metrics.json (`history`);
- the budget: the steps the stage ran and the optimizer's configuration as it began (`budget_difference`
  compares them between a method and its baseline).
"""

import functools
import json
import math
import os
import shutil

# Flags that do not change what a run computes: a run resumed with other values of these is the same run.
_NOT_COMPARED = ("resume", "tensorboard", "output", "command", "no_export")


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
        if args.resume and os.path.exists(marker):
            with open(marker) as f:
                before = json.load(f)
            changed = sorted(k for k in set(before) | set(settings) if before.get(k) != _jsonable(settings.get(k)))
            if changed:
                raise SystemExit(f"--resume: the checkpoints in {self.root} come from a run with other flags "
                                 f"({', '.join('--' + k.replace('_', '-') for k in changed)}). Rerun with the same "
                                 "flags, or without --resume to start again.")
        elif os.path.isdir(self.root):
            shutil.rmtree(self.root)  # a new run: an old run's checkpoints would not match
        os.makedirs(self.root, exist_ok=True)
        _write_json(marker, {k: _jsonable(v) for k, v in settings.items()})

    def steps_per_epoch(self, steps_per_pass):
        """Batches per Keras epoch: `--steps-per-epoch`, else `steps_per_pass` (one pass over the training data)."""
        return max(1, int(self.args.steps_per_epoch or steps_per_pass))

    def stage_steps(self, epochs, steps_per_pass):
        """The steps of a stage of `epochs` epochs (a float) of `steps_per_epoch(steps_per_pass)` batches, at most
        `--max-steps`."""
        steps = max(1, int(round(epochs * self.steps_per_epoch(steps_per_pass))))
        return min(steps, self.args.max_steps) if self.args.max_steps else steps

    def fit(self, name, model, batches, steps, steps_per_pass, budget=None, callbacks=(), keep_state=(),
            verbose=2, **fit_kwargs):
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
            verbose: `fit`'s verbosity.
            **fit_kwargs: more `fit` arguments (`validation_data`, ...).
        """
        import keras

        per_epoch = min(self.steps_per_epoch(steps_per_pass), steps)
        epochs = math.ceil(steps / per_epoch)
        folder = os.path.join(self.root, *name.split("/"))
        final = os.path.join(folder, "final.weights.h5")
        if self.args.resume and os.path.exists(final + ".json"):
            with open(final + ".json") as f:
                done = json.load(f)
            _build_optimizer(model)
            model.load_weights(final)
            print(f"{name}: finished in an earlier run, its weights loaded ({done['budget']['steps']} steps)")
            if budget is not None:
                budget.append(done["budget"])
            self.history[name] = done["history"]
            return done["history"]
        if not self.args.resume and os.path.isdir(folder):
            shutil.rmtree(folder)
        backup = os.path.join(folder, "backup")
        first_epoch = _backed_up_epoch(backup) if self.args.resume else 0
        if first_epoch:
            print(f"{name}: resuming at epoch {first_epoch + 1} of {epochs}")
        log = os.path.join(self.args.output, "logs", *name.split("/")) + ".csv"
        os.makedirs(os.path.dirname(log), exist_ok=True)
        if first_epoch:
            _truncate_log(log, first_epoch)  # an epoch logged but not backed up runs again: one row for it
        StageRecord, StopAfter, Backup = _stage_callbacks()
        record = StageRecord(steps, per_epoch)
        stage_callbacks = [record, *callbacks, StopAfter(steps, per_epoch),
                           keras.callbacks.CSVLogger(log, append=first_epoch > 0)]
        if self.args.tensorboard:
            board = os.path.join(self.args.output, "tensorboard", *name.split("/"))
            stage_callbacks.append(keras.callbacks.TensorBoard(board))
        # Last: it saves the epoch once every other callback has updated its state (a plateau rule, the optimizer).
        stage_callbacks.append(Backup(backup, keep_state))
        fit_kwargs.setdefault("shuffle", False)  # the stream is shuffled already
        from keras_hier._training_state import build_before_fit

        stream = batches(first_epoch * per_epoch)
        build_before_fit(model, stream)  # the first step is then traced once
        model.fit(stream, steps_per_epoch=per_epoch, epochs=epochs, verbose=verbose,
                  callbacks=stage_callbacks, **fit_kwargs)
        history = _read_log(log)
        done = {"budget": {"steps": record.steps, "optimizer": record.optimizer}, "history": history}
        _save_weights(model, final)
        _write_json(final + ".json", done)
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
        """Removes OUTPUT/checkpoints (backups and finished stages' weights), once the run needs them no more."""
        shutil.rmtree(self.root, ignore_errors=True)


def _build_optimizer(model):
    """Creates the optimizer's variables, so that loading a weights file restores them too."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _backed_up_epoch(backup):
    """The epoch an interrupted stage's backup had reached (0 without one)."""
    path = os.path.join(backup, "training_metadata.json")  # keras.callbacks.BackupAndRestore's record
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


def _truncate_log(path, epochs):
    """Keeps the CSV log's header and its rows of the first `epochs` epochs (CSVLogger counts from 0)."""
    import csv

    from keras_hier._io import write_text_atomic

    if not os.path.exists(path):
        return
    with open(path, newline="") as f:
        lines = f.read().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if line.strip() and int(next(csv.reader([line]))[0]) < epochs]
    write_text_atomic(path, "".join(kept))


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
                continue  # CSVLogger's val_ columns of a fit without validation
            try:
                history.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                history.setdefault(key, []).append(value)
    return history


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _write_json(path, data):
    from keras_hier._io import write_text_atomic

    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=1, default=str))


def _save_weights(model, path):
    """`model.save_weights(path)`, complete or not at all (a partial file would be loaded by a resumed run)."""
    partial = path + ".partial.weights.h5"
    model.save_weights(partial, overwrite=True)
    os.replace(partial, path)


@functools.lru_cache(maxsize=None)
def _stage_callbacks():
    """The stage's callback classes (defined on first use: they need keras, and `--help` should stay quick)."""
    import keras

    class StageRecord(keras.callbacks.Callback):
        """The stage's steps (counted across a resume) and its optimizer's configuration as it began."""

        def __init__(self, steps, per_epoch):
            super().__init__()
            self.limit, self.per_epoch, self.steps, self.optimizer = steps, per_epoch, 0, None

        def on_train_begin(self, logs=None):  # before the backup restores a plateau rule's lower rate
            optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
            config = keras.optimizers.serialize(optimizer)
            config["config"].pop("name", None)
            self.optimizer = config

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

    class Backup(keras.callbacks.BackupAndRestore):
        """`BackupAndRestore` (keeping the previous epoch's backup too, in case the last is cut short) that also
        keeps the attributes of `keep_state`'s callbacks."""

        def __init__(self, backup_dir, keep_state=()):
            super().__init__(backup_dir, double_checkpoint=True)
            self.keep_state = list(keep_state)
            self.state_path = os.path.join(backup_dir, "callbacks.json")

        def _load_model(self):
            super()._load_model()
            if self.keep_state and os.path.exists(self.state_path):
                with open(self.state_path) as f:
                    saved = json.load(f)
                for (callback, names), values in zip(self.keep_state, saved):
                    for attribute in names:
                        setattr(callback, attribute, values[attribute])

        def _save_model(self):
            super()._save_model()
            if self.keep_state:
                _write_json(self.state_path, [{a: _jsonable(getattr(c, a)) for a in names}
                                              for c, names in self.keep_state])

    return StageRecord, StopAfter, Backup

