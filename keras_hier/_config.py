"""Config helpers for layers and models that hold other Keras objects."""

import keras


def deserialized(config, *keys):
    """A copy of `config` with the Keras objects under `keys` deserialized (None stays None)."""
    config = dict(config)
    for key in keys:
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return config
