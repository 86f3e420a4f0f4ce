"""The package surface: a cheap, lazy `import keras_hier`, and TensorFlow-GNN next to Keras 3."""

import pytest

import keras_hier


def test_import_is_lazy_and_sets_legacy_keras(run_python):
    out = run_python(
        "import os, sys, time\n"
        "t = time.perf_counter(); import keras_hier; dt = time.perf_counter() - t\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_gnn', 'nltk', 'keras_hub', 'keras') if m in sys.modules]\n"
        "print(os.environ['TF_USE_LEGACY_KERAS'], heavy, f'{dt:.3f}')\n"
    )
    flag, heavy, seconds = out.split(maxsplit=2)
    assert flag == "1" and heavy.startswith("[]"), out
    assert float(seconds.split()[-1]) < 5, out  # a sanity bound, not a benchmark (it is ~0.1 s)


@pytest.mark.parametrize(
    "order",
    [
        "import keras_hier\nimport tensorflow_gnn as tfgnn\n",
        "import tensorflow as tf\nimport keras_hier\nimport tensorflow_gnn as tfgnn\n",
    ],
)
def test_tensorflow_gnn_imports_next_to_keras_3(order, run_python):
    out = run_python(
        order
        + "import keras, tensorflow as tf\n"
        "g = tfgnn.GraphTensor.from_pieces(node_sets={'c': tfgnn.NodeSet.from_fields(sizes=[2], features={'h': tf.ones([2, 3])})})\n"
        "print(keras.__version__.split('.')[0], tfgnn.__version__, int(g.node_sets['c'].total_size))\n"
    )
    major, _, nodes = out.split()
    assert major == "3" and nodes == "2"


def test_lazy_submodules():
    assert keras_hier.knowledge.wordnet.__name__ == "keras_hier.knowledge.wordnet"
    assert keras_hier.datasets.long_tail.__name__ == "keras_hier.datasets.long_tail"
    assert "knowledge" in dir(keras_hier) and "wordnet" in dir(keras_hier.knowledge) and "HierNet" in dir(keras_hier)
    from keras_hier.models.hiernet import HierNet

    assert keras_hier.HierNet is HierNet
    from keras_hier.models.dual_encoder import DualEncoder

    assert keras_hier.DualEncoder is DualEncoder and "DualEncoder" in dir(keras_hier)
    from keras_hier.models.hirl import HIRL

    assert keras_hier.HIRL is HIRL and "HIRL" in dir(keras_hier)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        keras_hier.nothing
    with pytest.raises(AttributeError):
        keras_hier.knowledge.nothing
