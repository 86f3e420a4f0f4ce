"""The conditional-risk-minimising decision: the argmax under the 0/1 cost, the LCA cost by hand, and the layer in a
model that saves, reloads and exports."""

import json

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.layers import RiskMinimisingDecision
from keras_hier.metrics import lca_distance, risk_minimising_decision

TREE = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u"], "w": None}})


def test_zero_one_cost_is_the_argmax():
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=50)
    np.testing.assert_array_equal(risk_minimising_decision(p, 1 - np.eye(5)), p.argmax(1))


def test_lca_cost_by_hand():
    # u is likeliest (0.3), but x, y, z together hold 0.6: predicting y costs 0.2*1 + 0.2*2 + 0.3*3 + 0.1*3 = 1.8,
    # u costs 3 * 0.7 = 2.1.
    p = np.array([[0.2, 0.2, 0.2, 0.3, 0.1]])
    decision, risk = risk_minimising_decision(p, TREE, return_risk=True)
    assert decision.tolist() == [0] and risk[0, 3] == pytest.approx(2.1) and risk[0, 1] == pytest.approx(1.8)
    np.testing.assert_allclose(risk, p @ lca_distance(TREE))
    with pytest.raises(ValueError, match=r"probabilities \[n, 5\]"):
        risk_minimising_decision(np.ones((1, 4)) / 4, TREE)


def test_equal_to_the_formula_written_out():
    # y = argmin_j sum_i C(i, j) p(i | x), with loops, on a random DAG's LCA cost and on a random asymmetric cost.
    from tests.metrics.hierarchies import random_hierarchy

    rng = np.random.default_rng(1)
    h = random_hierarchy(4, nodes=20, dag=True)
    n = h.num_classes
    p = rng.dirichlet(np.ones(n), size=30)
    for cost in (lca_distance(h), rng.random((n, n))):
        expected = [min(range(n), key=lambda j: sum(cost[i, j] * row[i] for i in range(n))) for row in p]
        assert risk_minimising_decision(p, cost).tolist() == expected


def test_layer_save_reload_and_export(tmp_path, run_served):
    inputs = keras.Input((5,))
    model = keras.Model(inputs, RiskMinimisingDecision(TREE)(keras.layers.Softmax()(inputs)))
    logits = np.random.default_rng(2).normal(size=(6, 5)).astype("float32")
    scores = np.asarray(model(logits))
    probabilities = np.asarray(keras.ops.softmax(logits))
    np.testing.assert_array_equal(scores.argmax(1), risk_minimising_decision(probabilities, TREE))
    model.save(tmp_path / "crm.keras")
    np.testing.assert_array_equal(np.asarray(keras.saving.load_model(tmp_path / "crm.keras")(logits)), scores)
    model.export(tmp_path / "saved", verbose=False)
    printed = run_served(
        "import json, numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(tmp_path / 'saved')!r})\n"
        f"print(json.dumps(np.asarray(served.serve(tf.constant({logits.tolist()!r}))).tolist()))\n")
    np.testing.assert_allclose(json.loads(printed.strip().splitlines()[-1]), scores, atol=1e-6)
    with pytest.raises(ValueError, match=r"probabilities \[batch, 5\]"):
        RiskMinimisingDecision(TREE)(np.ones((1, 4), "float32"))
    with pytest.raises(ValueError, match="Give `cost`"):
        RiskMinimisingDecision()
