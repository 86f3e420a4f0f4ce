"""`CLIPEmbedding`: one tower of a keras-hub CLIP (encoder, pooling, projection) as one layer."""

import keras
from keras import ops

from keras_hier._config import deserialized

MODALITIES = ("image", "text")


@keras.saving.register_keras_serializable(package="keras_hier")
class CLIPEmbedding(keras.layers.Layer):
    """The pooled, projected embedding of a keras-hub CLIP tower, as `CLIPBackbone` computes it.

    `"image"`: a `CLIPVisionEncoder`, its first (class) token, a linear projection. `"text"`: a
    `CLIPTextEncoder`, the state at the end-of-text token (the largest id of each row, as CLIP's tokenizer
    gives it), a linear projection. Each tower is its own object, so a `DualEncoder` made of the two saves
    and loads like any model; `from_backbone` takes a tower and its projection weights from a
    `CLIPBackbone` (pretrained presets included).

    Args:
        encoder: a `keras_hub.models.CLIPVisionEncoder` or `CLIPTextEncoder`.
        projection_dim: the size of the joint space.
        modality: `"image"` or `"text"`.

    Example:
    >>> import keras_hub, numpy as np
    >>> text = keras_hub.models.CLIPTextEncoder(50, 16, 16, 1, 2, 32, max_sequence_length=8)
    >>> tuple(CLIPEmbedding(text, 4, "text")(np.array([[1, 5, 49, 0]], "int32")).shape)
    (1, 4)
    """

    def __init__(self, encoder, projection_dim, modality="image", **kwargs):
        super().__init__(**kwargs)
        if modality not in MODALITIES:
            raise ValueError(f"Unknown modality {modality!r}: use one of {MODALITIES}.")
        self.encoder = encoder
        self.projection_dim = int(projection_dim)
        self.modality = modality
        self.projection = keras.layers.Dense(self.projection_dim, use_bias=False, name="projection",
                                             dtype=self.dtype_policy)

    @classmethod
    def from_backbone(cls, backbone, modality="image", **kwargs):
        """The image or text tower of a `keras_hub.models.CLIPBackbone`, its projection weights copied."""
        encoder = backbone.vision_encoder if modality == "image" else backbone.text_encoder
        source = backbone.vision_projection if modality == "image" else backbone.text_projection
        layer = cls(encoder, backbone.projection_dim, modality, **kwargs)
        layer.build(None)
        layer.projection.set_weights(source.get_weights())
        return layer

    def build(self, input_shape):
        self.projection.build((None, self.encoder.hidden_dim))
        self.built = True

    def call(self, inputs):
        if self.modality == "image":
            pooled = self.encoder({"images": inputs})[:, 0, :]
        else:
            states = self.encoder({"token_ids": inputs})
            end = ops.argmax(inputs, axis=-1)[:, None, None]
            pooled = ops.squeeze(ops.take_along_axis(states, end, axis=1), axis=1)
        return ops.cast(self.projection(pooled), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.projection_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            projection_dim=self.projection_dim,
            modality=self.modality,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialized(config, "encoder"))
