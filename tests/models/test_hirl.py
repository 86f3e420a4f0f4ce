"""HIRL: warm-up without L_SPD, then the PrototypeUpdate callback re-clusters every epoch and changes the
prototypes; L_SPD from the model equals the loss on its own embeddings; finite gradients under mixed_float16;
tf.data batches placed by index; `.keras` round trip of the heads; errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hier.clustering import hierarchical_kmeans
from keras_hier.models import HIRL, PrototypeUpdate
from keras_hier.backbones import vit
from keras_hier.models.ssl import DINO, IBOT, MoCoV2, MoCoV3, SimCLR, SimSiam, SwAV
from tests.models.ssl.conftest import tiny_encoder

IMAGES = np.random.default_rng(0).uniform(size=(24, 8, 8, 1)).astype("float32")


def small(base="simclr", **kwargs):
    heads = dict(output_dim=8, hidden_units=8, bottleneck_units=6, num_local_crops=1, local_size=4)
    make = {"simclr": lambda: SimCLR(tiny_encoder(), projection_dim=6, hidden_units=8),
            "moco": lambda: MoCoV2(tiny_encoder(), projection_dim=6, hidden_units=8, queue_size=16, seed=0),
            "simsiam": lambda: SimSiam(tiny_encoder(), projection_dim=6, predictor_units=3),
            "swav": lambda: SwAV(tiny_encoder(), projection_dim=6, hidden_units=8, num_prototypes=5,
                                 num_local_crops=1, local_size=4),
            "moco_v3": lambda: MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=6, hidden_units=8),
            "dino": lambda: DINO(vit((8, 8, 1), "vit_test"), **heads),
            "ibot": lambda: IBOT(vit((8, 8, 1), "vit_test", mask_token=True), seed=0, **heads)}[base]
    options = dict(num_prototypes=(6, 2), num_negative_paths=4, warmup_epochs=1, seed=0)
    options.update(kwargs)
    return HIRL(make(), **options)


@pytest.mark.parametrize("base", ["simclr", "moco", "simsiam"])
def test_warmup_then_reclustering_every_epoch(base):
    model = small(base)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([np.asarray(p).copy() for p in model.spd._prototypes])

    update = PrototypeUpdate(IMAGES, verbose=0)
    history = model.fit(IMAGES, np.arange(len(IMAGES)), batch_size=8, epochs=3, verbose=0,
                        callbacks=[update, Record()])
    spd = history.history["spd_loss"]
    assert spd[0] == 0.0 and spd[1] > 0 and spd[2] > 0
    np.testing.assert_allclose(history.history["loss"], np.add(history.history["ssl_loss"], spd), rtol=1e-5)
    assert update.history == [1, 2] and len(update.clusters.prototypes) == 2
    assert not np.abs(seen[0][0]).any()  # no prototypes during the warm-up
    assert not np.allclose(seen[1][0], seen[2][0])  # re-clustered on the trained encoder
    assert model.encoder is model.base.encoder


@pytest.mark.parametrize("base", ["simclr", "moco", "simsiam", "swav", "moco_v3", "dino", "ibot"])
def test_heads_take_the_raw_embedding(base):
    # HIRL's reference hooks the output of each base's projection module: z_0 before any L2 normalisation.
    model = small(base)
    keras.utils.set_random_seed(1)
    views = model.base.views(IMAGES[:4])
    keras.utils.set_random_seed(1)
    _, z0 = model.base.view_loss(*views, training=False)
    raw = np.asarray(model.base.project(views[0]), np.float32)
    np.testing.assert_allclose(np.asarray(z0, np.float32), raw, atol=1e-5)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0, atol=1e-3)
    want = np.stack([np.asarray(head(raw)) for head in model.heads], axis=1)
    np.testing.assert_allclose(np.asarray(model.level_embeddings(views[0])), want, atol=1e-5)


def test_spd_term_is_the_loss_on_the_level_embeddings():
    model = small()
    clusters = model.update_prototypes(IMAGES, verbose=0)
    z = model.level_embeddings(IMAGES, training=False)
    assert z.shape == (24, 2, 6)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(z), axis=-1), 1.0, atol=1e-5)
    loss = model.spd.call(clusters.assignments.astype("int32"), z)
    assert np.isfinite(np.asarray(loss)).all() and float(np.mean(loss)) > 0
    # The features clustered are the base's cluster features of the images in order.
    features = model.cluster_features(IMAGES, verbose=0)
    want = hierarchical_kmeans(features, (6, 2), seed=0, verbose=False, restarts=model.kmeans_restarts)
    np.testing.assert_array_equal(clusters.assignments, want.assignments)


def test_dataset_batches_are_placed_by_index():
    model = small()
    order = np.random.default_rng(1).permutation(len(IMAGES))
    shuffled = tf.data.Dataset.from_tensor_slices((IMAGES[order], order)).batch(5)
    np.testing.assert_allclose(model.cluster_features(shuffled, verbose=0), model.cluster_features(IMAGES, verbose=0),
                               atol=1e-6)
    model.compile(optimizer="sgd")
    history = model.fit(shuffled, epochs=2, cluster_data=shuffled, verbose=0)
    assert history.history["spd_loss"][1] > 0
    # With the training images as an array, the prototype table is sized before the step is traced: the clustering
    # after the warm-up does not trace it again (a second XLA compilation under JAX).
    model = small()
    model.compile(optimizer="sgd")
    made, make = [], model.make_train_function
    model.make_train_function = lambda force=False: made.append(force) or make(force)
    model.fit(shuffled, epochs=2, cluster_data=IMAGES, verbose=0)
    assert tuple(model.clustering_state.assignments.shape) == (len(IMAGES),) and True not in made, made


@pytest.mark.parametrize("base", ["moco", "swav", "moco_v3", "dino", "ibot"])
def test_mixed_precision_gradients_are_finite(base):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small(base)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        history = model.fit(IMAGES, batch_size=8, epochs=2, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"]).all() and history.history["spd_loss"][1] > 0
    assert all(np.isfinite(np.asarray(w)).all() for w in model.trainable_weights)
    z = model.level_embeddings(IMAGES[:4])
    assert z.dtype == "float32"


def test_paper_settings_per_base():
    # The paper's heads: 5 layers for MoCo v3, 2 otherwise; the reference code re-assigns SwAV's batches each step.
    models = {b: small(b) for b in ("moco_v3", "dino", "swav")}
    assert [m.head_layers for m in models.values()] == [5, 2, 2]
    assert [m.reassign_each_step for m in models.values()] == [False, False, True]
    assert models["dino"].base.embedding_dim == 6 and models["dino"].heads[0].units == 6
    # Each level keeps the best of 5 K-means seedings (faiss' nredo=5 in the reference's `run_hkmeans`).
    assert all(m.kmeans_restarts == 5 for m in models.values())
    assert HIRL.from_config(small(kmeans_restarts=2).get_config()).kmeans_restarts == 2


def test_reassign_each_step_moves_the_batch_to_the_second_views_nearest_prototype():
    model = small("swav")
    clusters = model.update_prototypes(IMAGES, verbose=0)
    index = np.array([3, 7, 11])
    views = (IMAGES[index], IMAGES[index][:, ::-1])  # a second view: the images flipped upside down
    model._spd_loss(index)(model.base.project(views[0]), views)
    features = np.asarray(model.base.cluster_features(views[1]))
    want = np.argmax(features @ clusters.prototypes[0].T, axis=1)
    assigned = np.asarray(model.clustering_state.assignments)
    np.testing.assert_array_equal(assigned[index], want)
    others = np.setdiff1d(np.arange(len(IMAGES)), index)
    np.testing.assert_array_equal(assigned[others], clusters.assignments[others])


def test_export_serves_the_encoder(tmp_path, serve_fresh):
    model = small("moco")
    model.compile(optimizer="sgd")
    model.fit(IMAGES, batch_size=8, epochs=2, verbose=0)
    model.export(tmp_path / "hirl", verbose=False)
    raw = np.round(IMAGES * 255).astype("uint8")  # the serving contract: uint8 images, divided by 255 inside
    np.testing.assert_allclose(serve_fresh(tmp_path / "hirl", raw)["features"],
                               np.asarray(model(raw / np.float32(255))), atol=1e-5)
    assert model(IMAGES).shape == (24, 4)  # the encoder's features, not the heads'


def test_save_round_trip_keeps_the_heads(tmp_path):
    model = small("moco")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    model.fit(IMAGES, batch_size=8, epochs=2, verbose=0)
    model.save(tmp_path / "hirl.keras")
    loaded = keras.saving.load_model(tmp_path / "hirl.keras")
    assert loaded.num_prototypes == (6, 2) and loaded.warmup_epochs == 1 and loaded.num_negative_paths == 4
    np.testing.assert_allclose(np.asarray(loaded.level_embeddings(IMAGES)), np.asarray(model.level_embeddings(IMAGES)),
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded(IMAGES)), np.asarray(model(IMAGES)), atol=1e-6)
    # The optimizer state (momenta of the online encoder and heads, not the momentum encoder) comes back too.
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


def test_errors():
    with pytest.raises(TypeError, match="ssl"):
        HIRL(tiny_encoder())
    with pytest.raises(ValueError, match="not increasing"):
        small(num_prototypes=(2, 6))
    model = small()
    model.compile(optimizer="sgd")
    unlabeled = tf.data.Dataset.from_tensor_slices(IMAGES).batch(8)
    with pytest.raises(ValueError, match="cluster_data"):
        model.fit(unlabeled, epochs=2, verbose=0)
    with pytest.raises(ValueError, match="index"):
        model.fit(unlabeled, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="prototypes per level"):
        model.set_clusters(hierarchical_kmeans(IMAGES.reshape(24, -1), (5, 2), verbose=False))
    with pytest.raises(ValueError, match="floats"):
        model.cluster_features((IMAGES * 255).astype("uint8"), verbose=0)
    with pytest.raises(ValueError, match="uint8"):
        model.fit((IMAGES * 255).astype("uint8"), epochs=1, verbose=0)
    partial = tf.data.Dataset.from_tensor_slices((IMAGES[:10], np.arange(10) * 2)).batch(4)
    with pytest.raises(ValueError, match="every index"):
        model.cluster_features(partial, verbose=0)


def test_trains_under_mirrored_strategy_on_two_cpu_devices(run_mirrored):
    # The step, the re-clustering and L_SPD run across replicas, on SwAV (whose steps also re-assign the global
    # batch's prototypes, with collectives outside the conditional); that SimCLR's negatives and MoCo's queue span
    # the global batch is tested in tests/models/ssl/test_simclr.py, the other bases' state in
    # tests/models/ssl/test_global_batch.py.
    out = run_mirrored(
        "from keras_hier.distribute import get_strategy, split_cpu\n"
        "split_cpu(2)\n"
        "import numpy as np, keras\n"
        "from tests.models.test_hirl import small, IMAGES\n"
        "strategy = get_strategy('mirrored')\n"
        "for kind in ('swav',):\n"
        "    with strategy.scope():\n"
        "        model = small(kind)\n"
        "        model.compile(optimizer=keras.optimizers.SGD(0.1))\n"
        "    h = model.fit(IMAGES, batch_size=8, epochs=2, verbose=0).history\n"
        "    print(kind, strategy.num_replicas_in_sync, h['spd_loss'][0] == 0 < h['spd_loss'][1],\n"
        "          bool(np.isfinite(h['loss']).all()))\n"
    )
    assert out.strip().splitlines()[-1:] == ["swav 2 True True"]
