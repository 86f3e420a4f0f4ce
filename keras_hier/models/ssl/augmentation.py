"""`view_augmentation`: the random view of an image that the self-supervised methods compare (Keras layers)."""

import keras

from keras_hier.layers.per_image_gaussian_blur import PerImageGaussianBlur
from keras_hier.layers.random_apply import RandomApply

# Keras' geometric preprocessing layers that it marks `supports_jit = False` for their TensorFlow implementation
# and that compile under JAX (its affine transforms). Not `RandomCrop`: its slice starts at a traced offset, which
# `jax.jit` refuses.
GEOMETRIC_LAYERS = (keras.layers.RandomZoom, keras.layers.RandomTranslation, keras.layers.RandomRotation,
                    keras.layers.RandomShear, keras.layers.RandomPerspective)


def jit_ready(augmentation):
    """Marks Keras' geometric preprocessing layers inside `augmentation` as jit-compilable under the JAX backend,
    and returns `augmentation`.

    Keras sets `supports_jit = False` on `RandomZoom`, `RandomTranslation`, `RandomRotation`, `RandomShear` and
    `RandomPerspective`, for their TensorFlow implementation; a model holding one then resolves
    `jit_compile="auto"` to False and, under JAX, trains op by op: every operation of every step dispatched (and
    compiled once) on its own, 1.5 to 6.7 times slower per step on a CPU than the one compiled step
    (docs/backends.md), and slower still on a GPU. Under JAX these layers are `jax.numpy` code (their affine
    transform is `map_coordinates`) that compiles with the step, so there they are marked as supported; other
    backends keep Keras' setting.

    Args:
        augmentation: a layer (a `keras.Sequential` of preprocessing layers, or any layer that holds some).

    Example:
    >>> import keras
    >>> zoom = jit_ready(keras.Sequential([keras.layers.RandomZoom(0.2)])).layers[0]
    >>> zoom.supports_jit == (keras.backend.backend() == "jax")
    True
    """
    if keras.backend.backend() == "jax" and isinstance(augmentation, keras.layers.Layer):
        for layer in augmentation._flatten_layers():
            if isinstance(layer, GEOMETRIC_LAYERS):
                layer.supports_jit = True
    return augmentation


def view_augmentation(channels=3, crop_scale=(0.2, 1.0), flip=True, jitter=0.4, jitter_probability=0.8,
                      grayscale=0.2, blur=0.5, blur_sigma=(0.1, 2.0), value_range=(0.0, 1.0), seed=None,
                      name="view_augmentation"):
    """A `keras.Sequential` of Keras preprocessing layers that draws one random view of each image of a batch.

    Calling it twice on a batch (with `training=True`) gives the two views of MoCo v2 (and of SimCLR and
    SimSiam, which use the same recipe): a random resized crop (a zoom in to a random part of the image,
    `RandomZoom` then `RandomTranslation`), colour jitter on 80 % of the views where the channels allow it
    (brightness and contrast on grey images; brightness, contrast, saturation and hue on colour ones), a random
    grey conversion (colour images), a Gaussian blur on half of the views with sigma drawn from (0.1, 2.0)
    pixels for each view (`keras_hier.layers.PerImageGaussianBlur`), and a horizontal flip — MoCo v2's `RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)`,
    `RandomGrayscale(p=0.2)`, `RandomApply([GaussianBlur([.1, 2.])], p=0.5)`. Images keep their size; with
    `training=False` the layers pass images through. The blur's sigma is in pixels, as MoCo v2's on 224-pixel
    crops: on small images the same sigma blurs relatively more (pass `blur_sigma` scaled by side / 224 to match
    MoCo v2's relative blur, or `blur=0` as SimCLR on CIFAR).

    Args:
        channels: image channels (1 for grey, 3 for colour).
        crop_scale: `(min, max)` fraction of the image area a view covers (the crop's side is its square root).
        flip: random horizontal flips.
        jitter: strength of the colour jitter (0 turns it off): brightness, contrast and saturation vary by up to
            this fraction, hue by a quarter of it.
        jitter_probability: the share of views that get the colour jitter (MoCo v2: 0.8).
        grayscale: probability of turning a colour view grey (colour images only).
        blur: the share of views that get a Gaussian blur (MoCo v2: 0.5; 0 turns it off).
        blur_sigma: `(min, max)` standard deviation of the blur, in pixels (MoCo v2: (0.1, 2.0)).
        value_range: the range of the pixel values, `(0, 1)` or `(0, 255)`.
        seed: seed of the random layers.
        name: name of the Sequential.

    Returns:
        A `keras.Sequential`.

    Example:
    >>> import numpy as np
    >>> augment = view_augmentation(channels=1, seed=0)
    >>> images = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    >>> tuple(augment(images, training=True).shape)
    (2, 28, 28, 1)
    """
    low, high = (float(s) for s in crop_scale)
    if not 0 < low <= high <= 1:
        raise ValueError(f"`crop_scale` must be (min, max) with 0 < min <= max <= 1; got {crop_scale}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 (grey) or 3 (colour); got {channels}.")
    side = low**0.5  # the smallest crop's side, as a fraction of the image's
    layers = []
    if low < 1:
        # Zooming in by a factor f shows the central (1 - f) of each side; shifting it then moves the window.
        layers.append(keras.layers.RandomZoom((-(1 - side), -(1 - high**0.5)), fill_mode="reflect", seed=seed))
        layers.append(keras.layers.RandomTranslation((1 - side) / 2, (1 - side) / 2, fill_mode="reflect", seed=seed))
    if jitter and jitter_probability:
        if channels == 3:
            colour = keras.layers.RandomColorJitter(value_range=value_range, brightness_factor=jitter,
                                                    contrast_factor=jitter, saturation_factor=jitter,
                                                    hue_factor=jitter / 4, seed=seed)
        else:
            colour = keras.Sequential([keras.layers.RandomBrightness(jitter / 2, value_range=value_range, seed=seed),
                                       keras.layers.RandomContrast(jitter, value_range=value_range, seed=seed)],
                                      name="grey_jitter")
        layers.append(RandomApply(colour, jitter_probability, seed=seed, name="colour_jitter"))
    if grayscale and channels == 3:
        layers.append(keras.layers.RandomGrayscale(grayscale, seed=seed))
    if blur:
        smallest, largest = (float(s) for s in blur_sigma)
        if not 0 < smallest <= largest:
            raise ValueError(f"`blur_sigma` must be (min, max) with 0 < min <= max; got {blur_sigma}.")
        layers.append(PerImageGaussianBlur(blur, sigma=(smallest, largest), seed=seed, name="gaussian_blur",
                                           dtype="float32"))
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    return jit_ready(keras.Sequential(layers or [keras.layers.Identity()], name=name))
