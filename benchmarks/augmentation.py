"""The self-supervised views' augmentation with keras_hier's per-image Gaussian blur against the same pipeline with
Keras' `RandomGaussianBlur`: `python -m benchmarks.augmentation`.

Times one call of `view_augmentation` (MoCo v2's views: crop, colour jitter on 80 %, blur on half of the views with
sigma in (0.1, 2), flip) on `--batch-size` Fashion-MNIST-sized images inside a `tf.function`, and the blur layers
alone, each the median of `--repeats` calls after warm-up, in one process; prints the ratios to the Keras baseline.
"""

import argparse

import numpy as np

from benchmarks._timing import median_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=28, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    import keras
    import tensorflow as tf

    from keras_hier.layers import PerImageGaussianBlur
    from keras_hier.models.ssl import view_augmentation

    images = tf.constant(np.random.default_rng(0).uniform(size=(args.batch_size, args.size, args.size, 1)),
                         tf.float32)
    ours = view_augmentation(1, seed=0)
    theirs = view_augmentation(1, seed=0)
    index = [type(layer).__name__ for layer in theirs.layers].index("PerImageGaussianBlur")
    keras_blur = keras.layers.RandomGaussianBlur(factor=(0.5, 0.5), kernel_size=13, sigma=(0.1, 2.0),
                                                 value_range=(0.0, 1.0), seed=0, dtype="float32")
    theirs = keras.Sequential(theirs.layers[:index] + [keras_blur] + theirs.layers[index + 1:])

    def timed(layer):
        call = tf.function(lambda x: layer(x, training=True))
        return median_seconds(lambda: call(images).numpy(), args.repeats)

    results = {"views, per-image blur": timed(ours), "views, Keras' RandomGaussianBlur": timed(theirs),
               "blur alone, PerImageGaussianBlur": timed(PerImageGaussianBlur(0.5, seed=0)),
               "blur alone, Keras' RandomGaussianBlur": timed(keras_blur)}
    for name, seconds in results.items():
        print(f"{name:40s} {1000 * seconds:8.1f} ms per {args.batch_size} images")
    return {"view_augmentation / with Keras' blur time":
            results["views, per-image blur"] / results["views, Keras' RandomGaussianBlur"],
            "PerImageGaussianBlur / Keras' RandomGaussianBlur time":
            results["blur alone, PerImageGaussianBlur"] / results["blur alone, Keras' RandomGaussianBlur"]}


if __name__ == "__main__":
    main()
