"""`SavesTrainingState`: a model mixin that saves the training state Keras' weights files leave out.

Keras saves each layer's variables and the optimizer's, but not the states of `keras.random.SeedGenerator`s (random
augmentation, dropout, PosVAE's noise, a loss's negative sampling) nor a compiled loss's own variables (HGR-Net's
adaptive layer weights). A run resumed from `keras.callbacks.BackupAndRestore` or `load_weights` would then draw
other random numbers than the uninterrupted run and diverge. keras_hier's models store these in their own entry of
the weights file, so a resumed run is exact.
"""

import warnings

import keras


def build_before_fit(model, x, y=None):
    """Creates, before `model.fit(x, y)`, the state Keras would otherwise create inside the first traced train step:
    the compiled metrics' and loss's variables and the optimizer's slots. Without a distribution strategy Keras 3
    defers them to that trace, and TensorFlow traces a function that created variables a second time (a second
    trace costs about half the first: 1-3 s for the recipes' models on 2 cores). Under a strategy Keras builds them
    itself, in the strategy's scope, and this does nothing; also when the model is not compiled, or `x` is neither a
    `tf.data.Dataset` nor arrays.

    Args:
        model: a compiled Keras model (TensorFlow backend).
        x: what `fit` will read: a `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)` batches, or an array
            (or a list or dict of arrays) of inputs.
        y: with array inputs, the targets (an array, or a list or dict of arrays), or None.

    Example:
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> build_before_fit(model, np.zeros((4, 3), "float32"), np.zeros(4, "int32"))
    >>> model.optimizer.built, len(model.metrics_variables)
    (True, 4)
    """
    if keras.backend.backend() != "tensorflow" or not getattr(model, "compiled", False):
        return
    import numpy as np
    import tensorflow as tf

    if getattr(model, "_distribute_strategy", None) is not None:
        return
    if isinstance(x, tf.data.Dataset):
        batch = x.element_spec
    else:
        leaves = keras.tree.flatten((x, y))
        if not leaves or not all(isinstance(v, np.ndarray) for v in leaves):
            return

        def spec(v):  # one batch of the array, as Keras' array adapter feeds it (float64 as floatx)
            dtype = keras.config.floatx() if v.dtype == np.float64 else v.dtype.name
            return tf.TensorSpec((None,) + v.shape[1:], dtype)

        batch = keras.tree.map_structure(spec, (x, y) if y is not None else (x,))
    symbolic_build = getattr(model, "_symbolic_build", None)  # what Keras runs at `fit` under a strategy
    if symbolic_build is not None:
        symbolic_build(data_batch=batch)


class SavesTrainingState:
    """Mixin for a `keras.Model`: its weights also hold every seed generator state of its layers and of its
    compiled loss, and the loss's variables (`extra_training_state`). Its `fit` first builds what the first traced
    step would create (`build_before_fit`), so that step is traced once."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        # Build the optimizer at once on the variables it trains. Its state then has the shape of what it saves (so
        # `load_weights`, `BackupAndRestore` and `.keras` loading restore it exactly), and the first `fit` traces its
        # train step once: without a distribution strategy Keras would create the optimizer's slots inside that trace,
        # and TensorFlow traces a function that created variables a second time.
        variables = self._optimized_variables()
        if variables is not None and self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(variables)

    def fit(self, x=None, y=None, **kwargs):
        build_before_fit(self, x, y)
        return super().fit(x, y, **kwargs)

    def compile_from_config(self, config):
        # Keras' own would build the optimizer a second time after `compile` has (duplicate slot variables).
        self.compile(**keras.saving.deserialize_keras_object(config))

    def _optimized_variables(self):
        """The variables the compiled optimizer trains, or None while the model is not built."""
        return self.trainable_variables if self.built else None

    def extra_training_state(self):
        """The variables to save beside the weights, in a fixed order."""
        generators = []
        for layer in self._flatten_layers(include_self=True, recursive=True):
            generators += [g for g in getattr(layer, "_seed_generators", []) if g not in generators]
        for obj in self._state_objects():
            generator = getattr(obj, "seed_generator", None)
            if isinstance(generator, keras.random.SeedGenerator) and generator not in generators:
                generators.append(generator)
        variables = [g.state for g in generators]
        for obj in self._state_objects():
            variables += [v for v in getattr(obj, "trainable_variables", []) or [] if isinstance(v, keras.Variable)]
        return variables

    @property
    def non_trainable_variables(self):
        """Keras' non-trainable variables and, under Keras' JAX backend, the compiled state outside the layer tree
        (`compiled_state_variables`): the JAX trainer passes its jitted step the model's variables only, so a
        loss's random generator would draw the same numbers at every step and its own variables could not train."""
        variables = super().non_trainable_variables
        if keras.backend.backend() != "jax":
            return variables
        known = {id(v) for v in variables} | {id(v) for v in self.trainable_variables}
        return variables + [v for v in self.compiled_state_variables() if id(v) not in known]

    def compiled_state_variables(self):
        """The state that `compile` brings from outside the layer tree: the compiled loss's random-generator states
        and variables, and the variables of a second optimizer (`weights_optimizer`) that trains them."""
        variables = []
        for obj in self._state_objects():
            generator = getattr(obj, "seed_generator", None)
            if isinstance(generator, keras.random.SeedGenerator):
                variables.append(generator.state)
            variables += [v for v in getattr(obj, "trainable_variables", []) or [] if isinstance(v, keras.Variable)]
        second = getattr(self, "weights_optimizer", None)
        if second is not None:
            variables += list(second.variables)
        return variables

    def _state_objects(self):
        """Objects outside the layer tree whose state counts: the compiled loss (if any)."""
        loss = getattr(self, "loss", None) if getattr(self, "compiled", False) else None
        return [loss] if loss is not None and not isinstance(loss, (str, list, dict)) else []

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, variable in enumerate(self.extra_training_state()):
            store[f"training_state_{i}"] = variable

    def load_own_variables(self, store):
        keys = list(store.keys())
        saved = sorted((k for k in keys if k.startswith("training_state_")), key=lambda k: int(k.split("_")[-1]))
        super().load_own_variables({k: store[k] for k in keys if not k.startswith("training_state_")})
        if not saved:  # a file from before this state was saved
            return
        variables = self.extra_training_state()
        if len(variables) != len(saved):
            warnings.warn(f"Skipping the random-generator and loss state of '{self.name}': the file has "
                          f"{len(saved)} entries, the model {len(variables)} (compile the model as it was when "
                          "saved).", stacklevel=2)
            return
        for variable, key in zip(variables, saved):
            variable.assign(store[key])
