"""`MiniLMEmbedding`: all-MiniLM-L6-v2 (keras-hub `BertBackbone`) as a trainable text tower layer."""

import keras
from keras import ops

from keras_hier._config import deserialized


@keras.saving.register_keras_serializable(package="keras_hier")
class MiniLMEmbedding(keras.layers.Layer):
    """Mean-pooled sentence embeddings of a BERT backbone from token ids, as sentence-transformers pools
    all-MiniLM-L6-v2 (not L2-normalised here: the `DualEncoder` normalises after its projection).

    Padding is token id 0 (the WordPiece `[PAD]`); segment ids are zero. The backbone's feed-forward
    activation is set to the exact (erf) GELU the checkpoint was trained with, again after loading, so a
    saved tower gives the same outputs.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (e.g. `MiniLMEncoder().backbone`).

    Example:
    >>> import numpy as np
    >>> from keras_hier.knowledge.embeddings import MiniLMEncoder
    >>> encoder = MiniLMEncoder(sequence_length=16)
    >>> ids, _ = encoder.tokenize(["a photo of a dog."])
    >>> mean = np.asarray(MiniLMEmbedding(encoder.backbone)(ids))
    >>> bool(np.allclose(encoder(["a photo of a dog."]), mean / np.linalg.norm(mean), atol=1e-5))
    True
    """

    def __init__(self, backbone, **kwargs):
        super().__init__(**kwargs)
        from keras_hier.knowledge.embeddings import _use_exact_gelu

        self.backbone = backbone
        _use_exact_gelu(self.backbone)
        for layer in self.backbone.layers:
            if layer.name == "pooled_dense":  # BERT's [CLS] pooler: unused by mean pooling
                layer.trainable = False

    def build(self, input_shape):
        self.built = True

    def call(self, token_ids):
        mask = ops.not_equal(token_ids, 0)
        states = self.backbone(
            {"token_ids": token_ids, "segment_ids": ops.zeros_like(token_ids), "padding_mask": mask}
        )["sequence_output"]
        weights = ops.cast(mask, states.dtype)[..., None]
        mean = ops.sum(states * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1e-9)
        return ops.cast(mean, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.backbone.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(backbone=keras.saving.serialize_keras_object(self.backbone))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialized(config, "backbone"))
