"""Small stand-ins for the examples in README.md and docs/: a few real Fashion-MNIST images, a tiny image tower and
a tiny ImageNet-style backbone, so that every example runs as written in seconds on a CPU.

Replace them with your own data and models: they have the shapes and conventions the real ones have (images as
float32 in [0, 1], towers from images to pooled features, backbones from images to `[features, probabilities]`).
"""

import numpy as np


def fashion_images(n=256, size=28, channels=1, seed=0):
    """`n` Fashion-MNIST training images (offline, `datasets.fashion_mnist`) as float32 [n, size, size, channels]
    in [0, 1], and their int labels; every class about equally often.

    Args:
        n: images drawn.
        size: side length (28: as stored; other sizes are resized).
        channels: 1, or 3 (grey repeated, for RGB models).
        seed: which images.

    Example:
    >>> x, y = fashion_images(8)
    >>> x.shape, x.dtype.name, sorted(set(y.tolist())) <= list(range(10))
    ((8, 28, 28, 1), 'float32', True)
    """
    from keras_hier.datasets import fashion_mnist

    (x, y), _ = fashion_mnist.load_data()
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(y == c)) for c in range(10)]
    picks = np.array([by_class[i % 10][i // 10] for i in range(int(n))], np.int64)
    images = x[picks].astype(np.float32)[..., None] / 255.0
    if size != 28:
        import tensorflow as tf

        images = tf.image.resize(images, (size, size)).numpy()
    if channels == 3:
        images = np.repeat(images, 3, axis=-1)
    return images, y[picks].astype(np.int64)


def image_tower(input_shape=(28, 28, 1), width=8, name="image_tower"):
    """A tiny CNN from images to pooled features [batch, 2 * width]: two strided convolutions and global average
    pooling (an encoder, an SSL backbone or a dual encoder's image tower).

    Example:
    >>> image_tower().output_shape
    (None, 16)
    """
    import keras

    images = keras.Input(input_shape, name="images")
    x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(images)
    x = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(images, keras.layers.GlobalAveragePooling2D()(x), name=name)


def imagenet_backbone(input_shape=(32, 32, 3), width=8, num_classes=1000):
    """A tiny, untrained stand-in for an ImageNet classifier: images -> `[features, probabilities]` over
    `num_classes` classes in ImageNet-1k's order, what `MultiLabelZeroShot` takes (a keras.applications ResNet
    with its pooled features beside its softmax, in real use).

    Example:
    >>> [tuple(o.shape) for o in imagenet_backbone().outputs]
    [(None, 16), (None, 1000)]
    """
    import keras

    tower = image_tower(input_shape, width, name="features")
    probabilities = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="imagenet")
    return keras.Model(tower.inputs, [tower.outputs[0], probabilities(tower.outputs[0])], name="imagenet_backbone")
