"""CLIPEmbedding equals keras-hub's CLIPBackbone embeddings, and round-trips through its config."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_hier.layers import CLIPEmbedding


@pytest.fixture
def clip():
    keras.utils.set_random_seed(0)
    return keras_hub.models.CLIPBackbone(
        keras_hub.models.CLIPVisionEncoder(8, 16, 1, 2, 32, image_shape=(16, 16, 3)),
        keras_hub.models.CLIPTextEncoder(60, 16, 16, 1, 2, 32, max_sequence_length=6),
        projection_dim=4,
    )


def test_matches_the_backbone_and_round_trips(clip):
    images = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    tokens = np.array([[1, 7, 59, 0, 0, 0], [1, 3, 4, 9, 59, 0], [1, 59, 0, 0, 0, 0]], "int32")
    for modality, inputs, want in (("image", images, clip.get_vision_embeddings(images)),
                                   ("text", tokens, clip.get_text_embeddings(tokens))):
        layer = CLIPEmbedding.from_backbone(clip, modality)
        np.testing.assert_allclose(np.asarray(layer(inputs)), np.asarray(want), atol=1e-5)
        clone = CLIPEmbedding.from_config(layer.get_config())
        clone.build(None)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(np.asarray(clone(inputs)), np.asarray(want), atol=1e-5)
    with pytest.raises(ValueError, match="modality"):
        CLIPEmbedding(clip.text_encoder, 4, "audio")
