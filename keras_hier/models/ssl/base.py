"""`SelfSupervisedModel`: what SimCLR, MoCo v2 and SimSiam share (an encoder, two random views, a train step)."""

import keras
from keras import ops

from keras_hier._training_state import SavesTrainingState
from keras_hier.distribute import scale_loss_for_replicas
from keras_hier.models.ssl.augmentation import view_augmentation


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
    `ProjectionHead`) and define `view_loss(view_1, view_2, training)` returning `(loss, embedding of view 1)` —
    the embedding is `embed`'s unit-norm projection, the z_0 that HIRL builds on; they may override `embed`,
    `cluster_features` (what HIRL clusters: the momentum encoder's embedding where there is one),
    `online_variables` and `after_step` (e.g. a momentum update).

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
            raise TypeError(f"{type(self).__name__} must define view_loss(view_1, view_2, training): use SimCLR, "
                            "MoCoV2 or SimSiam, or subclass SelfSupervisedModel with your method's loss.")
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
        self.augmentation = augmentation
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

    def export(self, filepath, format="tf_saved_model", verbose=True, version=None, **kwargs):
        """Exports the encoder (images -> features, the `serve` and `serving_default` endpoints), what downstream
        use needs; the heads and the augmentation stay out. A SavedModel is written as keras_hier writes every
        export (atomically, never over a folder that is not an earlier keras_hier export; `version` for TF
        Serving's `filepath/<version>/` layout); returns the folder written. Other formats are Keras' own."""
        if format != "tf_saved_model":
            return self.encoder.export(filepath, format=format, verbose=verbose, **kwargs)
        import tensorflow as tf

        from keras_hier._io import write_saved_model

        spec = [tf.TensorSpec([None, *self.encoder.inputs[0].shape[1:]], tf.float32, name="images")]
        filepath = write_saved_model(filepath, self.encoder, lambda x: self.encoder(x, training=False), spec,
                                     version=version)
        if verbose:
            print(f"Saved the encoder's SavedModel to {filepath} (serve: images -> features)")
        return filepath

    def views(self, images):
        """Two random views of each image."""
        return self.augmentation(images, training=True), self.augmentation(images, training=True)

    def embed(self, images, training=False):
        """The online embedding: the unit-norm output of the projection head [batch, embedding_dim]."""
        return ops.normalize(self.projector(self.encoder(images, training=training), training=training), axis=-1)

    def cluster_features(self, images):
        """The features HIRL clusters (inference mode): the online embedding unless overridden."""
        return self.embed(images, training=False)

    @property
    def online_variables(self):
        """The variables the optimizer trains (all trainable ones unless overridden)."""
        return self.trainable_variables

    def _optimized_variables(self):  # `compile` builds the optimizer on these: not the momentum encoder's
        return self.online_variables if self.built else None

    def after_step(self):
        """Runs after each optimizer step (e.g. MoCo's momentum update)."""

    def fit_step(self, images, optimizer, extra_loss=None):
        """One step of `optimizer` on the method's loss plus `extra_loss(embedding) -> (loss, variables)` (HIRL's
        L_SPD); returns `(method's loss, extra loss or None)`."""
        import tensorflow as tf

        view_1, view_2 = self.views(images)
        variables = list(self.online_variables)
        with tf.GradientTape() as tape:
            loss, embedding = self.view_loss(view_1, view_2, training=True)
            extra = None
            if extra_loss is not None:
                extra, extra_variables = extra_loss(embedding)
                variables += list(extra_variables)
            total = loss if extra is None else loss + extra
            # Gradients are summed over the replicas of a strategy: scale to the global batch's mean.
            scaled = optimizer.scale_loss(scale_loss_for_replicas(total))
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self.after_step()
        return loss, extra

    def train_step(self, data):
        loss, _ = self.fit_step(batch_images(data), self.optimizer)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        loss, _ = self.view_loss(*self.views(batch_images(data)), training=False)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

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


def safe_mean(values):
    """The mean of a float32 vector; 0 (not NaN) when it is empty."""
    values = ops.cast(values, "float32")
    return ops.sum(values) / ops.maximum(ops.cast(ops.shape(values)[0], "float32"), 1.0)


def mean_cross_entropy(labels, logits):
    """Mean softmax cross entropy of float32 `logits` [batch, n] against int `labels` [batch] (0 when empty)."""
    return safe_mean(keras.losses.sparse_categorical_crossentropy(labels, ops.cast(logits, "float32"),
                                                                  from_logits=True))
