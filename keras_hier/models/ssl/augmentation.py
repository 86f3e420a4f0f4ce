"""`view_augmentation`: the random view of an image that the self-supervised methods compare (Keras layers)."""

import keras


def view_augmentation(channels=3, crop_scale=(0.2, 1.0), flip=True, jitter=0.4, grayscale=0.2,
                      value_range=(0.0, 1.0), seed=None, name="view_augmentation"):
    """A `keras.Sequential` of Keras preprocessing layers that draws one random view of each image of a batch.

    Calling it twice on a batch (with `training=True`) gives the two views of SimCLR, MoCo v2 and SimSiam:
    a random resized crop (a zoom in to a random part of the image, `RandomZoom` then `RandomTranslation`), a
    horizontal flip, and colour jitter where the channels allow it (brightness and contrast on grey images;
    brightness, contrast, saturation and hue, then a random grey conversion, on colour ones). Images keep their
    size; with `training=False` the layers pass images through.

    Args:
        channels: image channels (1 for grey, 3 for colour).
        crop_scale: `(min, max)` fraction of the image area a view covers (the crop's side is its square root).
        flip: random horizontal flips.
        jitter: strength of the colour jitter (0 turns it off): brightness, contrast and saturation vary by up to
            this fraction, hue by a quarter of it.
        grayscale: probability of turning a colour view grey (colour images only).
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
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if jitter:
        if channels == 3:
            layers.append(keras.layers.RandomColorJitter(value_range=value_range, brightness_factor=jitter,
                                                         contrast_factor=jitter, saturation_factor=jitter,
                                                         hue_factor=jitter / 4, seed=seed))
        else:
            layers.append(keras.layers.RandomBrightness(jitter / 2, value_range=value_range, seed=seed))
            layers.append(keras.layers.RandomContrast(jitter, value_range=value_range, seed=seed))
    if grayscale and channels == 3:
        layers.append(keras.layers.RandomGrayscale(grayscale, seed=seed))
    return keras.Sequential(layers or [keras.layers.Identity()], name=name)
