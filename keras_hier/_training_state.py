"""`SavesTrainingState`: a model mixin that saves the training state Keras' weights files leave out.

Keras saves each layer's variables and the optimizer's, but not the states of `keras.random.SeedGenerator`s (random
augmentation, dropout, PosVAE's noise, a loss's negative sampling) nor a compiled loss's own variables (HGR-Net's
adaptive layer weights). A run resumed from `keras.callbacks.BackupAndRestore` or `load_weights` would then draw
other random numbers than the uninterrupted run and diverge. keras_hier's models store these in their own entry of
the weights file, so a resumed run is exact.
"""

import warnings

import keras


class SavesTrainingState:
    """Mixin for a `keras.Model`: its weights also hold every seed generator state of its layers and of its
    compiled loss, and the loss's variables (`extra_training_state`)."""

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        # Build the optimizer at once on the variables it trains. Its state then has the shape of what it saves (so
        # `load_weights`, `BackupAndRestore` and `.keras` loading restore it exactly), and the first `fit` traces its
        # train step once: without a distribution strategy Keras would create the optimizer's slots inside that trace,
        # and TensorFlow traces a function that created variables a second time.
        variables = self._optimized_variables()
        if variables is not None and self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(variables)

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
