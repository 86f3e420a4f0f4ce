"""`SelfSupervisedModel`: what the self-supervised methods share (an encoder, random views, a train step), and
their shared pieces: momentum (EMA) updates, schedules by step, a step counter."""

import keras
import numpy as np
from keras import ops

from keras_hier._finite import finite_inputs, finite_step_checks
from keras_hier._training_state import SavesTrainingState
from keras_hier.distribute import scale_loss_for_replicas
from keras_hier.models.ssl.augmentation import jit_ready, view_augmentation


def batch_images(data):
    """The images of a batch: `images`, `(images, labels)`, `(images, labels, weights)` or `{"images": ...}`."""
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(x, dict):
        if "images" not in x:
            raise ValueError(f"A dict batch needs an 'images' entry; got keys {sorted(x)}.")
        x = x["images"]
    return x


class SelfSupervisedModel(SavesTrainingState, keras.Model):
    """Base class of the self-supervised methods: an `encoder` (images -> features), a random `augmentation`
    drawing the two views, and a `train_step` on the method's `view_loss`.

    Calling the model runs the encoder (the features used downstream). Subclasses set `self.projector` (a
    `ProjectionHead`) and define `view_loss(*views, training)` returning `(loss, embedding of the first view)` —
    the embedding is z_0, the raw online projection (`project`, before any L2 normalisation) that HIRL's level
    heads take, as HIRL's reference code hooks it; they may override `views`
    (more than two: multi-crop), `project`, `embedding_dim`, `cluster_features` (what HIRL clusters: the momentum
    encoder's or teacher's embedding where there is one), `online_variables`, `before_step` (e.g. a teacher's
    momentum update before the step, as DINO) and `after_step` (e.g. MoCo v2's momentum update).

    Batches are images, `(images, labels)` (labels ignored) or `{"images": ...}`: for example
    `keras_hier.datasets.pipeline.make_dataset(images, numpy.arange(len(images)), shuffle=True,
    drop_remainder=True)`.

    Args:
        encoder: a `keras.Model` from images to feature vectors [batch, features].
        augmentation: a layer drawing one random view per call with `training=True` (default
            `view_augmentation` for the encoder's channels).
    """

    def __init__(self, encoder, augmentation=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(getattr(self, "view_loss", None)):
            raise TypeError(f"{type(self).__name__} must define view_loss(*views, training): use one of "
                            "keras_hier.models.ssl.METHODS, or subclass SelfSupervisedModel with your method's loss.")
        outputs, inputs = getattr(encoder, "outputs", None), getattr(encoder, "inputs", None)
        if not outputs or not inputs:
            raise ValueError("The encoder must be a built Functional or Sequential `keras.Model` (it has no "
                             "inputs / outputs yet): give its first layer an `Input`.")
        if len(outputs[0].shape) != 2:
            raise ValueError(f"The encoder must map images to feature vectors [batch, features]; its output has "
                             f"shape {outputs[0].shape}. End it with global pooling.")
        self.encoder = encoder
        self.feature_dim = int(outputs[0].shape[-1])
        if augmentation is None:
            augmentation = view_augmentation(channels=int(inputs[0].shape[-1]))
        self.augmentation = jit_ready(augmentation)  # one compiled step under JAX (see `jit_ready`)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def embedding_dim(self):
        """Width of the online embedding (`embed`): the projector's output width."""
        return self.projector.units

    def build_heads(self, *heads):
        """Builds the heads on the encoder's features (so that every variable exists before training) and marks
        the model built."""
        for head in heads:
            head.build((None, self.feature_dim))
        self.built = True

    def call(self, images, training=False):
        return self.encoder(images, training=training)

    def export(self, filepath, format="tf_saved_model", verbose=True, version=None, preprocessing="unit",
               resize=False, **kwargs):
        """Exports the encoder, what downstream use needs (the heads and the augmentation stay out), with
        keras_hier's serving contract (`keras_hier.export.export_features`): the `serving_default` and `serve`
        signature takes raw uint8 `images` [batch, height, width, channels], preprocesses them inside
        (`preprocessing`: `"unit"` divides by 255, every keras_hier dataset's scale; `"none"`; or a callable) and
        returns `features`. Written atomically, never over a folder that is not an earlier keras_hier export;
        `version` for TF Serving's `filepath/<version>/` layout; returns the folder written. Other formats are
        Keras' own export of the encoder."""
        if format != "tf_saved_model":
            return self.encoder.export(filepath, format=format, verbose=verbose, **kwargs)
        from keras_hier.export import export_features

        return export_features(self.encoder, filepath, preprocessing=preprocessing, resize=resize, verbose=verbose,
                               version=version)

    def views(self, images):
        """The random views of each image the loss compares: two by default."""
        return self.augmentation(images, training=True), self.augmentation(images, training=True)

    def project(self, images, training=False):
        """z_0: the online projection [batch, embedding_dim] before any L2 normalisation, in the compute dtype (what
        HIRL's level heads take)."""
        return self.projector(self.encoder(images, training=training), training=training)

    def embed(self, images, training=False):
        """The online embedding: `project`'s output L2-normalised [batch, embedding_dim], float32."""
        return unit(self.project(images, training=training))

    def cluster_features(self, images):
        """The features HIRL clusters (inference mode): the online embedding unless overridden."""
        return self.embed(images, training=False)

    @property
    def online_variables(self):
        """The variables the optimizer trains (all trainable ones unless overridden)."""
        return self.trainable_variables

    def _optimized_variables(self):  # `compile` builds the optimizer on these: not the momentum encoder's
        return self.online_variables if self.built else None

    def before_step(self):
        """Runs before each step's loss (e.g. a teacher's momentum update, where the reference code does it
        first)."""

    def after_step(self):
        """Runs after each optimizer step (e.g. MoCo v2's momentum update)."""

    def step_losses(self, images, extra_loss=None):
        """The losses of one training step on `images`, with its state changes (the views' random draws, a teacher's
        update before the step, queue and centre writes): `(total, (method's loss, extra loss or None, parts))`,
        where the extra loss is `extra_loss(embedding, views)` (HIRL's L_SPD on the first view's embedding) and the
        parts are `loss_parts()`. Both backends' steps run it (`fit_step`, `stateless_fit_step`)."""
        views = self.views(images)
        self.before_step()
        loss, embedding = self.view_loss(*views, training=True)
        extra = None if extra_loss is None else extra_loss(embedding, views)
        return (loss if extra is None else loss + extra), (loss, extra, self.loss_parts())

    def loss_parts(self):
        """The parts of the last `view_loss` that the model logs besides the loss (e.g. iBOT's class-token and
        patch losses), a tuple; none by default."""
        return ()

    def fit_step(self, images, optimizer, extra_loss=None, extra_variables=()):
        """One TensorFlow step of `optimizer` on `step_losses(images, extra_loss)`, training `online_variables`
        and `extra_variables`; returns the aux tuple of `step_losses`. A non-finite batch, loss or gradient stops
        the step before it changes any weight (`finite_step_checks`)."""
        import tensorflow as tf

        images = finite_inputs(type(self).__name__, images)
        variables = list(self.online_variables) + list(extra_variables)
        with tf.GradientTape() as tape:
            total, aux = self.step_losses(images, extra_loss)
            # Gradients are summed over the replicas of a strategy: scale to the global batch's mean.
            scaled = optimizer.scale_loss(scale_loss_for_replicas(total))
        gradients = self.adjust_gradients(tape.gradient(scaled, variables), variables)
        with tf.control_dependencies(finite_step_checks(type(self).__name__, total, gradients, optimizer)):
            optimizer.apply_gradients(zip(gradients, variables))
        self.after_step()
        return aux

    def stateless_fit_step(self, model, state, images, track, extra_loss=None, extra_variables=()):
        """The JAX step of `model` (this model, or HIRL around it) from `state`, on the same `step_losses`,
        `adjust_gradients` and `after_step` as `fit_step` (`keras_hier._stateless_step`); `track(aux)` (the aux
        tuple of `step_losses`) updates the metrics and returns the logs. Returns `(logs, new state)`."""
        from keras_hier._stateless_step import stateless_train_step

        return stateless_train_step(model, state, lambda: self.step_losses(images, extra_loss),
                                    list(self.online_variables) + list(extra_variables), adjust=self.adjust_gradients,
                                    after=self.after_step, track=lambda total, aux: track(aux))

    def adjust_gradients(self, gradients, variables):
        """The gradients the optimizer applies (unchanged unless overridden: e.g. frozen prototypes or last layer
        for the first steps)."""
        return gradients

    def train_step(self, *args):
        if keras.backend.backend() == "jax":  # Keras' JAX trainer: train_step(state, data) -> (logs, state)
            state, data = args
            return self.stateless_fit_step(self, state, batch_images(data), self._track)
        (data,) = args
        return self._track(self.fit_step(batch_images(data), self.optimizer))

    def _track(self, aux):
        """Updates the metrics from a step's aux tuple `(loss, extra, parts)` and returns the logs."""
        self.loss_tracker.update_state(aux[0])
        return {"loss": self.loss_tracker.result()}

    def test_step(self, *args):
        if keras.backend.backend() == "jax":  # Keras' JAX trainer: test_step(state, data) -> (logs, state)
            from keras_hier._stateless_step import stateless_test_step

            state, data = args
            return stateless_test_step(self, state, lambda: self._evaluate(batch_images(data)))
        return self._evaluate(batch_images(args[0]))

    def _evaluate(self, images):
        """The loss of random views of `images` in inference mode, into the metrics; returns the logs."""
        loss, _ = self.view_loss(*self.views(images), training=False)
        return self._track((loss, None, self.loss_parts()))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "augmentation": keras.saving.serialize_keras_object(self.augmentation)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "augmentation"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def unit(x):
    """`x` L2-normalised along its last axis, in float32 (float16's epsilon would underflow)."""
    return ops.normalize(ops.cast(x, "float32"), axis=-1)


def safe_mean(values):
    """The mean of a float32 vector; 0 (not NaN) when it is empty."""
    values = ops.cast(values, "float32")
    return ops.sum(values) / ops.maximum(ops.cast(ops.shape(values)[0], "float32"), 1.0)


def mean_cross_entropy(labels, logits):
    """Mean softmax cross entropy of float32 `logits` [batch, n] against int `labels` [batch] (0 when empty)."""
    return safe_mean(keras.losses.sparse_categorical_crossentropy(labels, ops.cast(logits, "float32"),
                                                                  from_logits=True))


def ema_update(targets, sources, momentum):
    """`target <- momentum * target + (1 - momentum) * source` for each pair: a momentum encoder or teacher
    following its online network (`momentum` a float or a scalar tensor)."""
    for target, source in zip(targets, sources):
        target.assign(momentum * target + (1.0 - momentum) * ops.cast(source, target.dtype))


def cosine_schedule(start, end, step, total_steps):
    """`start` at step 0, `end` at `total_steps`, along a half cosine (and `end` after); `start` throughout when
    `total_steps` is 0 — MoCo v3's and DINO's teacher momentum (start 0.99 / 0.996, end 1).

    Example:
    >>> [round(float(cosine_schedule(0.99, 1.0, s, 10)), 4) for s in (0, 5, 10, 20)]
    [0.99, 0.995, 1.0, 1.0]
    """
    if not total_steps:
        return ops.convert_to_tensor(start, "float32")
    progress = ops.minimum(ops.cast(step, "float32") / float(total_steps), 1.0)
    return end + (start - end) * 0.5 * (1.0 + ops.cos(np.pi * progress))


def linear_warmup(start, end, step, warmup_steps):
    """`start` at step 0 rising linearly to `end` at `warmup_steps`, then `end` — DINO's teacher temperature.

    Example:
    >>> [round(float(linear_warmup(0.04, 0.07, s, 30)), 3) for s in (0, 15, 30, 99)]
    [0.04, 0.055, 0.07, 0.07]
    """
    if not warmup_steps:
        return ops.convert_to_tensor(end, "float32")
    progress = ops.minimum(ops.cast(step, "float32") / float(warmup_steps), 1.0)
    return start + (end - start) * progress


def frozen_for_steps(gradients, variables, frozen, model, steps):
    """`gradients` with those of the variables in `frozen` set to 0 while `model.steps_done < steps` (DINO's last
    layer, SwAV's prototypes for the first steps). With AdamW's decoupled decay a frozen weight still shrinks, which
    changes nothing for the weight-normalised layers this serves."""
    if not steps:
        return gradients
    stopped = model.steps_done < steps
    frozen = {id(v) for v in frozen}
    return [ops.where(stopped, ops.zeros_like(g), g) if id(v) in frozen and g is not None else g
            for g, v in zip(gradients, variables)]


def add_step_counter(model):
    """Gives `model` a `steps_done` variable (int64, saved with the weights, so schedules resume exactly) that
    `count_step(model)` raises by one after each training step."""
    model.steps_done = model.add_weight(shape=(), dtype="int64", initializer="zeros", trainable=False,
                                        name="steps_done", aggregation="only_first_replica")


def count_step(model):
    """Raises `model.steps_done` (see `add_step_counter`) by one."""
    model.steps_done.assign_add(ops.cast(1, "int64"))
