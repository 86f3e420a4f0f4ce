"""`MultiCropModel`: the base of the methods that compare two large views with several small ones (SwAV's
multi-crop, also DINO's and iBOT's), and `flexible_encoder`, an encoder that takes images of any size."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.models.ssl.augmentation import jit_ready, view_augmentation
from keras_hier.models.ssl.base import SelfSupervisedModel


def flexible_encoder(encoder):
    """The Functional `encoder` on an input of any height and width, sharing its layers and weights: what the
    small crops of multi-crop go through (a model built for 28x28 images refuses 12x12 ones).

    Example:
    >>> import numpy as np
    >>> inputs = keras.Input((8, 8, 1))
    >>> encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))
    >>> tuple(flexible_encoder(encoder)(np.zeros((2, 5, 5, 1), "float32")).shape)
    (2, 4)
    """
    channels = encoder.inputs[0].shape[-1]
    return keras.models.clone_model(encoder, input_tensors=keras.Input((None, None, channels)),
                                    clone_function=lambda layer: layer)


def local_view_augmentation(channels, size, crop_scale=(0.05, 0.4), seed=None, **kwargs):
    """`view_augmentation` for multi-crop's small views: a random crop covering `crop_scale` of the image,
    resized to `size` x `size` pixels, then the same colour, blur and flip as the large views.

    Example:
    >>> import numpy as np
    >>> augment = local_view_augmentation(1, 12)
    >>> tuple(augment(np.zeros((2, 28, 28, 1), "float32"), training=True).shape)
    (2, 12, 12, 1)
    """
    views = view_augmentation(channels=channels, crop_scale=crop_scale, seed=seed, name="local_view_augmentation",
                              **kwargs)
    views.add(keras.layers.Resizing(int(size), int(size), name="local_size"))
    return views


def _check_crop_fits_patches(encoder, local_size):
    """A ValueError, at construction, when a small crop is smaller than a patch of a ViT inside `encoder` (it would
    fail inside the patch convolution at `fit` with "Negative dimension size")."""
    from keras_hier.backbones.vit import VisionTransformer

    for layer in encoder._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, VisionTransformer) and local_size < layer.patch_size:
            raise ValueError(f"`local_size` ({local_size} pixels) is smaller than one patch of the encoder "
                             f"'{encoder.name}' (its VisionTransformer cuts {layer.patch_size}-pixel patches; the "
                             "presets vit_tiny, vit_small and vit_base use 16). Pass local_size >= "
                             f"{layer.patch_size} (a multiple of it uses every pixel), or an encoder with smaller "
                             "patches (preset 'vit_mini' or 'vit_test': 4), or num_local_crops=0.")


class MultiCropModel(SelfSupervisedModel):
    """A `SelfSupervisedModel` whose views are two large crops and `num_local_crops` small ones
    (`local_size` pixels square, covering `local_scale` of the image; Caron et al., 2020). `views` returns
    `(global_1, global_2, local_1, ...)`; `encode_local` runs the encoder on all small crops in one batch.

    Args:
        encoder: a Functional `keras.Model` from images to feature vectors (for the small crops it must work on
            smaller images: global pooling, or a `VisionTransformer`, which resizes its position embeddings).
        num_local_crops: small crops per image (0: two views only).
        local_size: side of the small crops in pixels (default: 3/7 of the image side, SwAV's 96 of 224).
        global_scale: `(min, max)` share of the image a large crop covers (used when `augmentation` is None).
        local_scale: the same for the small crops.
        augmentation: the large views' augmentation (default `view_augmentation(crop_scale=global_scale)`).
        local_augmentation: the small views' (default `local_view_augmentation(local_size, local_scale)`).
    """

    def __init__(self, encoder, num_local_crops=0, local_size=None, global_scale=(0.14, 1.0),
                 local_scale=(0.05, 0.14), augmentation=None, local_augmentation=None, **kwargs):
        channels = int(encoder.inputs[0].shape[-1]) if getattr(encoder, "inputs", None) else 3
        if augmentation is None:
            augmentation = view_augmentation(channels=channels, crop_scale=global_scale)
        super().__init__(encoder, augmentation, **kwargs)
        if int(num_local_crops) < 0:
            raise ValueError(f"`num_local_crops` must be >= 0; got {num_local_crops}.")
        self.num_local_crops = int(num_local_crops)
        self.global_scale, self.local_scale = tuple(float(s) for s in global_scale), \
            tuple(float(s) for s in local_scale)
        height = encoder.inputs[0].shape[1]
        if local_size is None:
            local_size = max(1, round((height or 224) * 3 / 7))
        self.local_size = check_number(local_size, "local_size", low=1, integer=True)
        if self.num_local_crops:
            _check_crop_fits_patches(encoder, self.local_size)
        if local_augmentation is None and self.num_local_crops:
            local_augmentation = local_view_augmentation(channels, self.local_size, self.local_scale)
        self.local_augmentation = jit_ready(local_augmentation)
        self.local_encoder = flexible_encoder(encoder) if self.num_local_crops else None

    def views(self, images):
        globals_ = (self.augmentation(images, training=True), self.augmentation(images, training=True))
        return globals_ + tuple(self.local_augmentation(images, training=True) for _ in range(self.num_local_crops))

    def encode_local(self, crops, training):
        """The encoder's features of the small crops, one batch for all [crops * batch, features]."""
        return self.local_encoder(ops.concatenate(list(crops), axis=0), training=training)

    def get_config(self):
        config = {**super().get_config(), "num_local_crops": self.num_local_crops, "local_size": self.local_size,
                  "global_scale": list(self.global_scale), "local_scale": list(self.local_scale)}
        config["local_augmentation"] = (None if self.local_augmentation is None else
                                        keras.saving.serialize_keras_object(self.local_augmentation))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("local_augmentation") is not None:
            config["local_augmentation"] = keras.saving.deserialize_keras_object(config["local_augmentation"])
        return super().from_config(config)
