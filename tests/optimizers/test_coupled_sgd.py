"""CoupledSGD: PyTorch's SGD update (L2 decay added to the gradient before momentum), by hand."""

import keras
import numpy as np
import pytest

from keras_hier.optimizers import CoupledSGD


def torch_sgd(w, grads, lrs, momentum, weight_decay, nesterov=False):
    """torch.optim.SGD's documented update, written out (dampening 0)."""
    buf = np.zeros_like(w)
    for g, lr in zip(grads, lrs):
        d = g + weight_decay * w
        buf = momentum * buf + d
        w = w - lr * ((d + momentum * buf) if nesterov else buf)
    return w


def run(optimizer, w0, grads):
    w = keras.Variable(np.array(w0, "float32"))
    for g in grads:
        optimizer.apply([np.array(g, "float32")], [w])
    return w.numpy()


def test_one_step_on_one_weight_is_the_l2_update():
    # w = 2, dL/dw = 0.5, lr 0.1, weight decay 1e-4: w - 0.1 * (0.5 + 1e-4 * 2) = 1.94998
    out = run(CoupledSGD(0.1, momentum=0.9, weight_decay=1e-4), [2.0], [[0.5]])
    np.testing.assert_allclose(out, [1.94998], rtol=1e-7)


@pytest.mark.parametrize("nesterov", [False, True])
def test_steps_across_a_learning_rate_drop_follow_pytorch(nesterov):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([3], [0.1, 0.01])
    grads = [[0.5, -1.0], [0.3, 0.2], [-0.4, 0.1], [0.2, 0.2], [0.1, -0.3], [0.0, 0.0]]
    lrs = [0.1, 0.1, 0.1, 0.1, 0.01, 0.01]  # the schedule reads the step count before each update: 0..3 -> 0.1
    out = run(CoupledSGD(schedule, momentum=0.9, weight_decay=5e-4, nesterov=nesterov), [1.5, -2.0], grads)
    expected = torch_sgd(np.array([1.5, -2.0]), [np.array(g) for g in grads], lrs, 0.9, 5e-4, nesterov)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_equals_keras_sgd_with_an_l2_loss_term_at_a_constant_learning_rate():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(32, 1)).astype("float32")
    wd = 1e-2

    def model(regularizer=None):
        keras.utils.set_random_seed(0)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_regularizer=regularizer,
                                                                       bias_regularizer=regularizer)])

    coupled, l2 = model(), model(keras.regularizers.L2(wd / 2))  # d/dw (wd / 2) w^2 = wd w
    coupled.compile(CoupledSGD(0.05, momentum=0.9, weight_decay=wd), "mse")
    l2.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
    for m in (coupled, l2):
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(coupled.get_weights(), l2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_shrinks_ten_times_more_than_keras_decoupled_weight_decay():
    zero = [[0.0]] * 100
    coupled = 2.0 - run(CoupledSGD(0.1, momentum=0.9, weight_decay=1e-3), [2.0], zero)[0]
    decoupled = 2.0 - run(keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=1e-3), [2.0], zero)[0]
    np.testing.assert_allclose(decoupled, 2.0 * (1 - (1 - 1e-4) ** 100), rtol=1e-3)  # lr * wd per step
    np.testing.assert_allclose(coupled, 2.0 - torch_sgd(np.array(2.0), [0.0] * 100, [0.1] * 100, 0.9, 1e-3), rtol=1e-3)
    assert 8.5 < coupled / decoupled < 9.5  # about lr * wd / (1 - momentum) per step once the buffer has filled


def test_excluded_variables_and_no_decay():
    w, b = keras.Variable(np.array([1.0], "float32"), name="kernel"), keras.Variable(np.array([1.0], "float32"),
                                                                                     name="bias")
    opt = CoupledSGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply([np.zeros(1, "float32")] * 2, [w, b])
    np.testing.assert_allclose([w.numpy()[0], b.numpy()[0]], [0.95, 1.0])
    assert run(CoupledSGD(0.1, weight_decay=None), [1.0], [[0.0]])[0] == 1.0
    with pytest.raises(ValueError, match="weight_decay"):
        CoupledSGD(0.1, weight_decay=-1.0)


def test_serialization_and_mixed_precision_fit(tmp_path):
    opt = CoupledSGD(keras.optimizers.schedules.CosineDecay(0.1, 10), momentum=0.9, weight_decay=1e-4, nesterov=True)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(again, CoupledSGD) and again.get_config() == opt.get_config()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1, dtype="float32")])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.compile(CoupledSGD(0.01, momentum=0.9, weight_decay=1e-4), "mse")
    history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    inner = getattr(loaded.optimizer, "inner_optimizer", loaded.optimizer)
    assert isinstance(inner, CoupledSGD) and inner.coupled_weight_decay == 1e-4


def test_learning_rate_multipliers_are_parameter_groups():
    """PyTorch parameter groups {encoder: lr 0.001, classifier: lr 0.1} as one base rate and a multiplier."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="encoder"),
                              keras.layers.Dense(1, name="cosine_classifier")])
    grads = [np.full(v.shape, 0.5, "float32") for v in model.trainable_variables]
    start = [v.numpy().copy() for v in model.trainable_variables]
    opt = CoupledSGD(0.001, momentum=0.9, weight_decay=5e-4, learning_rate_multipliers={"cosine_classifier/": 100})
    opt.apply(grads, model.trainable_variables)
    for v, w0 in zip(model.trainable_variables, start):
        lr = 0.1 if v.path.startswith("cosine_classifier/") else 0.001
        np.testing.assert_allclose(v.numpy(), torch_sgd(w0, [np.full(w0.shape, 0.5)], [lr], 0.9, 5e-4), rtol=1e-6)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert again.learning_rate_multipliers == {"cosine_classifier/": 100.0}
    nested = CoupledSGD(0.1, learning_rate_multipliers={"a/": 2, "a/b/": 3})
    assert nested.learning_rate_multiplier(keras.Variable(1.0, name="k")) == 1.0
    with pytest.raises(ValueError, match="learning_rate_multipliers"):
        CoupledSGD(0.1, learning_rate_multipliers={"a/": -1})
