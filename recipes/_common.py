"""Helpers the recipes share: comma-separated flags and mean ± spread over seeds."""

import numpy as np


def comma_list(text, allowed=None, flag="--list"):
    """The non-empty items of a comma-separated flag; with `allowed`, SystemExit names a bad or empty list."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if allowed is not None and (not items or set(items) - set(allowed)):
        raise SystemExit(f"{flag} must name some of {tuple(allowed)}; got {text!r}.")
    return items


def mean_and_spread(values):
    """`{"mean", "std"}` of per-seed values (sample standard deviation; 0 for one seed)."""
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def applications_encoder(backbone, input_shape, weights="none"):
    """Images in [0, 1] -> pooled features of a keras.applications ResNet (`resnet50`, `resnet101`, `resnet152`);
    `weights` `"imagenet"` (downloads) or `"none"`."""
    import keras

    make = {"resnet50": keras.applications.ResNet50, "resnet101": keras.applications.ResNet101,
            "resnet152": keras.applications.ResNet152}[backbone]
    net = make(include_top=False, pooling="avg", weights=None if weights == "none" else weights,
               input_shape=input_shape)
    images = keras.Input(input_shape, name="images")
    x = keras.applications.resnet.preprocess_input(keras.layers.Rescaling(255.0)(images))
    return keras.Model(images, net(x), name="encoder")


def write_metrics(output, metrics, start):
    """Adds the run's `seconds` since `start`, writes `output/metrics.json` atomically, says where the outputs are and
    returns `metrics`."""
    import json
    import os
    import time

    from keras_hier._io import write_text_atomic

    metrics["seconds"] = time.time() - start
    write_text_atomic(os.path.join(output, "metrics.json"), json.dumps(metrics, indent=2))
    print(f"outputs in {output} ({metrics['seconds']:.0f} s)")
    return metrics
