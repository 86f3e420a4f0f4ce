"""DualEncoder: CLIP logits by hand, logit-scale clip, fit with adaptive HGR weights, saving, zero-shot export."""

import math

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy
from keras_hier.losses import HierarchicalInfoNCE
from keras_hier.metrics import TopOverlapRatio
from keras_hier.models import DualEncoder

TREE = Hierarchy.from_nested({"root": {"A": {"a1": ["x", "y"], "z": None}, "B": ["u", "v"], "w": None}})  # 9 nodes below the root: one text each


def tower():
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu")])


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((24, 6, 6, 1)).astype("float32"), np.arange(24) % 6, rng.normal(size=(9, 5)).astype("float32")


def test_logits_are_scaled_cosines(data):
    x, _, features = data
    keras.utils.set_random_seed(1)
    model = DualEncoder(tower(), features, projection_dim=4)
    logits = np.asarray(model(x[:3]))
    img = np.asarray(model.image_projection(model.image_encoder(x[:3])))
    txt = np.asarray(model.text_projection(features))
    cos = (img / np.linalg.norm(img, axis=1, keepdims=True)) @ (txt / np.linalg.norm(txt, axis=1, keepdims=True)).T
    np.testing.assert_allclose(logits, cos / 0.07, rtol=1e-5, atol=1e-5)
    model.log_logit_scale.assign(math.log(1000.0))
    assert float(model.logit_scale) == pytest.approx(100.0)  # clipped as CLIP does


def test_fit_trains_adaptive_weights_with_their_own_optimizer(data):
    x, y, features = data
    keras.utils.set_random_seed(0)
    model = DualEncoder(tower(), features, projection_dim=4)
    loss = HierarchicalInfoNCE(TREE, weighting="adaptive", outer_ratio=1.0, inner_ratio=1.0)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, global_clipnorm=1.0), loss=loss, metrics=[TopOverlapRatio(TREE)],
                  weights_optimizer=keras.optimizers.SGD(0.5))
    before_w, before_scale = np.asarray(loss.layer_weights).copy(), float(model.log_logit_scale)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and history.history["loss"][0] > 0
    assert "tor" in history.history
    assert not np.allclose(np.asarray(loss.layer_weights), before_w)  # SGD on the layer weights
    assert float(model.log_logit_scale) != before_scale  # the temperature learns
    assert model.weights_optimizer.iterations.numpy() == model.optimizer.iterations.numpy() == 6
    flat = DualEncoder(tower(), features, projection_dim=4)
    flat.compile(optimizer="adamw", loss=HierarchicalInfoNCE(TREE, flat=True))
    assert flat.weights_optimizer is None and np.isfinite(flat.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_mixed_precision_logits_are_float32_and_the_loss_scaled(data):
    x, y, features = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = DualEncoder(tower(), features, projection_dim=4)
        model.compile(optimizer="adamw", loss=HierarchicalInfoNCE(TREE, weighting="inverse_count"))
        assert model(x[:2]).dtype == "float32"
        # The model's own policy is float32 but its towers compute in float16: the loss is scaled all the same.
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert np.isfinite(model.fit(x, y, batch_size=12, epochs=1, verbose=0).history["loss"][0])
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_save_load_zero_shot_model_and_export(data, tmp_path, run_served):
    x, y, features = data
    model = DualEncoder(tower(), features, projection_dim=4)
    model.compile(optimizer="adamw", loss=HierarchicalInfoNCE(TREE))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "dual.keras")
    again = keras.saving.load_model(tmp_path / "dual.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-6)
    assert isinstance(again.loss, HierarchicalInfoNCE) and again.weights_optimizer is not None
    unseen = [1, 3]
    logits = np.asarray(model(x))[:, unseen]
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model.zero_shot_model(unseen)(x)), want, atol=1e-5)
    names = model.loss.tables.names()
    by_name = [names[1], 3]  # a name from the compiled loss's hierarchy, and an index
    np.testing.assert_allclose(np.asarray(model.zero_shot_model(by_name)(x)), want, atol=1e-5)
    model.export(tmp_path / "served", candidates=by_name, verbose=False)
    raw = np.round(x * 255).astype("uint8")  # the serving contract: uint8 images, divided by 255 inside
    want = np.asarray(model.zero_shot_model(unseen)(raw / np.float32(255)))
    np.save(tmp_path / "x.npy", raw)
    run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(tmp_path / 'served')!r})\n"
        f"out = served.signatures['serving_default'](images=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, out['probabilities'].numpy())\n"
        f"np.save({str(tmp_path / 'c.npy')!r}, out['class'].numpy())\n"
        f"np.save({str(tmp_path / 'n.npy')!r}, out['top_k_classes'].numpy().astype(str)[:, 0])\n"
    )
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), want, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), np.array(unseen)[want.argmax(1)])
    np.testing.assert_array_equal(np.load(tmp_path / "n.npy"), np.array(names)[np.array(unseen)[want.argmax(1)]])


def test_candidates_by_name_with_class_names(data):
    x, _, features = data
    names = [f"c{i}" for i in range(9)]
    model = DualEncoder(tower(), features, projection_dim=4, class_names=names)
    np.testing.assert_array_equal(model.class_indices(["c4", 0, "c8"]), [4, 0, 8])
    np.testing.assert_allclose(np.asarray(model.zero_shot_model(["c4", "c8"])(x)),
                               np.asarray(model.zero_shot_model([4, 8])(x)), atol=1e-6)
    assert DualEncoder.from_config(model.get_config()).class_names == names
    with pytest.raises(ValueError, match="Unknown class 'Sandal'"):
        model.zero_shot_model(["Sandal"])
    with pytest.raises(ValueError, match="outside 0..8"):
        model.class_indices([9])
    with pytest.raises(ValueError, match="knows no class names"):
        DualEncoder(tower(), features, projection_dim=4).zero_shot_model(["Sandal"])
    with pytest.raises(ValueError, match="each of the 9 classes once"):
        DualEncoder(tower(), features, projection_dim=4, class_names=names[:-1])


@pytest.mark.parametrize("kwargs, message", [
    ({"class_inputs": np.zeros((0, 5))}, "one row per class"),
    ({"class_inputs": np.zeros((4, 2, 3))}, "text features"),
    ({"class_inputs": np.zeros((4, 5)), "temperature": 0.0}, "temperature"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DualEncoder(tower(), **kwargs)


def test_clip_towers_from_config_train_save_and_export(tmp_path, run_served):
    texts = ["a photo of a x.", "a photo of a y.", "a photo of a z.", "a photo of a u.", "a photo of a v.",
             "a photo of a w.", "a photo of a A.", "a photo of a B.", "a photo of a a1."]
    keras.utils.set_random_seed(0)
    model = DualEncoder.from_clip_config(texts, image_shape=(16, 16, 3), patch_size=8, hidden_dim=16, num_layers=1,
                                         num_heads=2, intermediate_dim=32, projection_dim=8, sequence_length=12)
    assert model.image_projection is None and model.text_projection is None and model.class_inputs.dtype == "int32"
    ids = np.asarray(model.class_inputs)
    assert (ids.argmax(1) == (ids > 0).sum(1) - 1).all()  # the end token, the largest id, closes each text
    x = np.random.default_rng(0).random((12, 16, 16, 3)).astype("float32")
    y = np.arange(12) % 6
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, global_clipnorm=1.0), loss=HierarchicalInfoNCE(TREE))
    text_before = np.asarray(model.encode_classes())
    assert np.isfinite(model.fit(x, y, batch_size=6, epochs=1, verbose=0).history["loss"][0])
    assert not np.allclose(np.asarray(model.encode_classes()), text_before)  # the text tower trains
    model.save(tmp_path / "clip.keras")
    again = keras.saving.load_model(tmp_path / "clip.keras")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), atol=1e-5)
    model.export(tmp_path / "served", candidates=[0, 1, 2], verbose=False)
    np.save(tmp_path / "x.npy", np.round(x * 255).astype("uint8"))
    printed = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(tmp_path / 'served')!r})\n"
        f"out = served.signatures['serving_default'](images=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))\n"
        "print(out['probabilities'].shape, out['top_k_classes'].shape)\n"
    )
    assert printed.strip() == "(12, 3) (12, 3)"


def test_from_clip_preset_reads_a_keras_hub_preset(tiny_clip_preset):
    path, backbone, vocab = tiny_clip_preset
    texts = ["a photo of a cat.", "a photo of a dog."]
    def grey_to_rgb(shape):  # the preset's image shape -> a model from our 8x8 grey images to it
        grey = keras.Input((8, 8, 1))
        x = keras.layers.Resizing(*shape[:2])(grey)
        return keras.Model(grey, keras.layers.Concatenate()([x, x, x]), name="to_rgb")

    model = DualEncoder.from_clip_preset(path, texts, image_preprocessing=grey_to_rgb)
    assert model.image_projection is None and model.text_projection is None
    ids = np.asarray(model.class_inputs)
    assert ids.shape == (2, 12) and ids[0, 0] == 0 and ids[0, 1] == vocab["a</w>"] and vocab["cat</w>"] in ids[0]
    grey = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    rgb = np.repeat(keras.ops.convert_to_numpy(keras.layers.Resizing(16, 16)(grey)), 3, axis=-1)
    image = keras.ops.normalize(backbone.get_vision_embeddings(rgb), axis=-1)
    text = keras.ops.normalize(backbone.get_text_embeddings(ids), axis=-1)
    want = np.asarray(image) @ np.asarray(text).T / 0.07
    np.testing.assert_allclose(np.asarray(model(grey)), want, rtol=1e-4, atol=1e-4)


def test_minilm_towers_frozen_and_trainable():
    from keras_hier.knowledge.embeddings import sentence_embeddings

    texts = [f"a photo of a {n}." for n in ("x", "y", "z", "u", "v", "w", "A", "B", "a1")]
    frozen = DualEncoder.from_minilm(tower(), texts, projection_dim=4)
    np.testing.assert_allclose(np.asarray(frozen.class_inputs), sentence_embeddings(texts), atol=1e-6)
    keras.utils.set_random_seed(0)
    model = DualEncoder.from_minilm(tower(), texts, trainable_text=True, projection_dim=4, project_text=False)
    assert model.class_inputs.dtype == "int32" and model.projection_dim == 384
    # Before training the class embeddings are exactly the frozen sentence embeddings.
    np.testing.assert_allclose(np.asarray(model.encode_classes()), sentence_embeddings(texts), atol=1e-5)
    x, y = np.random.default_rng(0).random((6, 6, 6, 1)).astype("float32"), np.arange(6)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss=HierarchicalInfoNCE(TREE, weighting="equal"))
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(np.asarray(model.encode_classes()), sentence_embeddings(texts), atol=1e-4)
    np.testing.assert_allclose(sentence_embeddings(texts[:1]), frozen.class_inputs[:1], atol=1e-6)  # cache untouched
    # Saving: a DualEncoder with a trainable text tower in test_clip_towers_from_config_train_save_and_export, and
    # MiniLMEmbedding (on a tiny BERT) in tests/test_registration.py; the 22M-parameter file here took ~15 s.
