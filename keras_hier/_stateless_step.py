"""`stateless_train_step`: one training step written once, with Keras variables (reads, `assign`, `keras.ops`), run
as a pure function of the training state under Keras' JAX backend.

keras_hier's custom steps change more state than a plain model: momentum encoders and teachers (an EMA after or
before the update), queues, centres, step counters, BatchNorm statistics, random generators. Under TensorFlow they
run as written (a `GradientTape` around the loss, `assign` in place). Under JAX, Keras hands the step the values of
the model's trainable, non-trainable, optimizer and metric variables and takes back new ones. This module runs the
same code inside `keras.StatelessScope`s that map each variable to its current value and collect what it assigns, so
the mathematics of each method stays in one place:

1. `losses()` (the views, a teacher's update before the step, the loss, queue and centre writes) is differentiated
   with `jax.value_and_grad` with respect to the variables the optimizer trains;
2. `adjust(gradients, variables)` (frozen layers for the first steps) sees the state after (1);
3. the optimizer applies the gradients (`stateless_apply`);
4. `after()` (a momentum encoder following the new weights, the step counter) and `track(losses)` (the metrics) run
   on the updated values.

A step whose loss or gradients are not finite changes nothing (the optimizer, the weights and the other state keep
their values) and reports its NaN loss, which `keras.callbacks.TerminateOnNaN` stops on. (Under TensorFlow the step
raises instead, see `keras_hier._finite`.)
"""

import keras


def _current(scope, variables, values):
    """The value each variable has at the end of `scope` (its mapped value where the scope did not assign it)."""
    out = []
    for variable, value in zip(variables, values):
        new = scope.get_current_value(variable)
        out.append(value if new is None else new)
    return out


def stateless_test_step(model, state, evaluate):
    """One JAX evaluation step of `model` from `state` (`(trainable, non_trainable, metrics)` values, as Keras' JAX
    `test_step` gets them): runs `evaluate()` (the loss, the metrics' updates; it returns the logs) with every variable
    mapped to its value and returns `(logs, new state)` (the random views' generators and the metrics move).

    Example (inside a model's `test_step(self, state, data)` under the JAX backend):
    >>> return stateless_test_step(self, state, lambda: self._track(self.test_losses(images)))  # doctest: +SKIP
    """
    trainable, non_trainable, metric_values = state
    variables = list(model.trainable_variables) + list(model.non_trainable_variables) + list(model.metrics_variables)
    values = list(trainable) + list(non_trainable) + list(metric_values)
    with keras.StatelessScope(state_mapping=list(zip(variables, values))) as scope:
        logs = evaluate()
    current = _current(scope, variables, values)
    split = len(trainable) + len(non_trainable)
    return logs, (current[: len(trainable)], current[len(trainable): split], current[split:])


def stateless_train_step(model, state, losses, optimized, adjust=None, after=None, track=None, also=()):
    """One JAX training step of `model` from `state`; returns `(logs, new state)` as Keras' JAX `train_step` does.

    Args:
        model: the Keras model (compiled; its optimizer built on `optimized`).
        state: `(trainable, non_trainable, optimizer, metrics)` variable values, as Keras' JAX trainer passes them.
        losses: `losses()` -> `(total, aux)`: the scalar float32 loss to minimise and anything `track` needs
            (e.g. its parts); it may read and assign any of the model's variables.
        optimized: the variables the optimizer trains (a subset of `model.trainable_variables`, in the optimizer's
            order).
        adjust: optional `adjust(gradients, variables)` -> gradients.
        after: optional `after()`, run once the optimizer has applied the step.
        track: `track(total, aux)` -> logs: updates the metrics and returns the logs.
        also: `(optimizer, variables)` pairs trained on the same loss besides the model's optimizer (HGR-Net's
            adaptive layer weights on their own SGD), on the unscaled loss; the variables and the optimizer's must
            be among the model's non-trainable variables (`SavesTrainingState.compiled_state_variables`). A pair's
            step whose gradients are not finite changes neither.

    Example (inside a model's `train_step(self, state, data)` under the JAX backend):
    >>> return stateless_train_step(self, state, lambda: self.step_losses(images),  # doctest: +SKIP
    ...                             self._optimized_variables(), track=self.track)
    """
    import jax
    import jax.numpy as jnp

    trainable, non_trainable, optimizer_values, metric_values = state
    variables = list(model.trainable_variables) + list(model.non_trainable_variables) + list(model.metrics_variables)
    values = list(trainable) + list(non_trainable) + list(metric_values)
    position = {id(v): i for i, v in enumerate(variables)}

    def places(group, what):
        missing = [v.path for v in group if id(v) not in position]
        if missing:
            raise ValueError(f"{what} variables the model does not hold: {missing[:3]}.")
        return [position[id(v)] for v in group]

    where = places(optimized, "The optimizer trains")
    others = [(opt, places(group, "A second optimizer trains"), places(opt.variables, "A second optimizer has"))
              for opt, group in also]
    differentiated = where + [i for _, group, _ in others for i in group]
    optimizer_variables = list(model.optimizer.variables)
    scaled_by_optimizer = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)

    def replaced(current, indices, new):
        current = list(current)
        for i, value in zip(indices, new):
            current[i] = value
        return current

    def forward(trained):
        current = replaced(values, differentiated, trained)
        mapping = list(zip(variables, current)) + list(zip(optimizer_variables, optimizer_values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            total, aux = losses()
            scaled = model.optimizer.scale_loss(total)
            scale = keras.ops.convert_to_tensor(model.optimizer.dynamic_scale) if scaled_by_optimizer else 1.0
        return scaled, (total, aux, scale, _current(scope, variables, current))

    (_, (total, aux, scale, current)), every_gradient = jax.value_and_grad(forward, has_aux=True)(
        [values[i] for i in differentiated])
    gradients, other_gradients = every_gradient[: len(where)], every_gradient[len(where):]
    if adjust is not None:
        with keras.StatelessScope(state_mapping=list(zip(variables, current))):
            gradients = adjust(gradients, optimized)
    trained, new_optimizer_values = model.optimizer.stateless_apply(
        optimizer_values, gradients, [current[i] for i in where])
    for opt, group, slots in others:  # each second optimizer on the unscaled loss's gradients
        own, other_gradients = other_gradients[: len(group)], other_gradients[len(group):]
        own = [g / scale for g in own]
        new, new_slots = opt.stateless_apply([current[i] for i in slots], own, [current[i] for i in group])
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in own]))
        current = replaced(current, group + slots, [jnp.where(ok, a, current[i]) for a, i in
                                                   zip(list(new) + list(new_slots), group + slots)])
    current = replaced(current, where, trained)
    if after is not None:
        with keras.StatelessScope(state_mapping=list(zip(variables, current))) as scope:
            after()
        current = _current(scope, variables, current)
    finite = jnp.isfinite(total)
    if not scaled_by_optimizer:  # a LossScaleOptimizer skips overflows itself
        for g in gradients:
            finite = finite & jnp.all(jnp.isfinite(g))
    # A non-finite step changes nothing but the metrics (which show its NaN loss).
    current = [jnp.where(finite, new, old) for new, old in zip(current, values)]
    new_optimizer_values = [jnp.where(finite, new, old) for new, old in zip(new_optimizer_values, optimizer_values)]
    metrics_start = len(trainable) + len(non_trainable)
    with keras.StatelessScope(state_mapping=list(zip(variables, current))) as scope:
        logs = track(total, aux) if track is not None else {}
    current = _current(scope, variables, current)
    new_state = (current[: len(trainable)], current[len(trainable): metrics_start], new_optimizer_values,
                 current[metrics_start:])
    return logs, new_state
