"""iBOT: block masks (exact counts up to the target, rectangles, iBOT's share of masked images), the masked-patch
loss by hand and against numpy on the model's own tokens (teacher on the unmasked view, only masked patches count),
the class-token loss as DINO's, training lowering the loss, saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.backbones import vit
from keras_hier.models.ssl import IBOT
from keras_hier.models.ssl.dino import distillation_loss
from keras_hier.models.ssl.ibot import masked_patch_loss
from keras_hier.models.ssl.masking import blockwise_masks, mask_ratios

IMAGES = np.random.default_rng(0).uniform(size=(8, 16, 16, 1)).astype("float32")


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def ibot(**kwargs):
    keras.utils.set_random_seed(0)
    options = dict(output_dim=10, hidden_units=8, bottleneck_units=4, num_local_crops=0, seed=0,
                   augmentation=keras.layers.Identity())
    options.update(kwargs)
    return IBOT(vit((16, 16, 1), "vit_test", mask_token=True), **options)


def test_block_masks():
    ratios = np.array([0.0, 0.1, 0.3, 0.5] * 25, "float32")
    masks = np.asarray(blockwise_masks(ratios, (7, 7), seed=0))
    counts = masks.reshape(len(ratios), -1).sum(1)
    caps = np.floor(ratios * 49)  # the reference's `while mask_count < high` never passes ratio * H * W
    assert caps[2] == 14 and (counts <= caps).all() and (counts >= caps - 2).mean() > 0.95
    # Blocks: a masked patch almost always has a masked neighbour (4-connectivity), unlike scattered patches.
    padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
    neighbours = padded[:, :-2, 1:-1] | padded[:, 2:, 1:-1] | padded[:, 1:-1, :-2] | padded[:, 1:-1, 2:]
    assert (neighbours[masks]).mean() > 0.95
    drawn = np.asarray(mask_ratios(2000, 0.3, 0.2, 0.5, seed=0))
    assert abs((drawn > 0).mean() - 0.5) < 0.05 and drawn[drawn > 0].min() >= 0.1 and drawn.max() <= 0.5


def test_block_masks_start_from_the_references_smallest_block():
    # One candidate block per image: its area is drawn in [(min(H, W) // 3) ** 2, cap], 16 on 14x14 (it was 4),
    # so no first block is smaller than about 16 patches (rounding its sides to whole patches takes a few off).
    first = np.asarray(blockwise_masks(np.full(500, 0.5, "float32"), (14, 14), seed=1, attempts=1))
    sizes = first.reshape(500, -1).sum(1)
    assert sizes[sizes > 0].min() >= 12 and (sizes > 0).mean() > 0.8  # some blocks do not fit the grid
    assert np.asarray(blockwise_masks(np.full(500, 0.5, "float32"), (14, 14), seed=1, attempts=1,
                                      min_patches=1)).reshape(500, -1).sum(1).min() < 8  # the test can tell


def test_masked_patch_loss_counts_only_masked_patches():
    rng = np.random.default_rng(1)
    teacher, student = softmax(rng.normal(size=(2, 3, 4))), rng.normal(size=(2, 3, 4)).astype("float32")
    masks = np.array([[True, False, True], [False, False, False]])
    ce = -(teacher * (student - np.log(np.exp(student).sum(-1, keepdims=True)))).sum(-1)
    want = ((ce[0, 0] + ce[0, 2]) / 2 + 0.0) / 2  # the unmasked image counts as 0 in the batch mean
    assert float(masked_patch_loss(teacher, student, masks)) == pytest.approx(want, rel=1e-5)


def test_loss_matches_numpy():
    model = ibot(mask_probability=1.0, mask_ratio=0.5, mask_ratio_spread=0.0)
    views = (IMAGES[:4], IMAGES[4:])
    generator_state = np.asarray(model.mask_seed_generator.state).copy()
    loss, z1 = model.view_loss(*views, training=True)
    parts = [float(p) for p in model._parts]
    model.mask_seed_generator.state.assign(generator_state)  # the same masks again
    masks = np.asarray(model.masks(8, (4, 4))).reshape(8, -1)
    assert (masks.sum(1) == 8).all()  # half of the 16 patches of every image

    def outputs(images, mask=None):
        tokens = model.vit(images, patch_mask=mask, return_tokens=True, training=True)
        return np.asarray(model.head.last_layer(model.head.bottleneck(tokens)))

    both = np.concatenate(views)
    student = outputs(both, masks.reshape(8, 4, 4)) / 0.1
    teacher = outputs(both)  # the teacher starts as the student, on the unmasked views
    cls = distillation_loss([softmax(teacher[:4, 0] / 0.07), softmax(teacher[4:, 0] / 0.07)],  # no warm-up
                            [student[:4, 0], student[4:, 0]])
    patch = np.mean([float(masked_patch_loss(softmax(teacher[s, 1:] / 0.07), student[s, 1:], masks[s]))
                     for s in (slice(0, 4), slice(4, 8))])
    assert parts == pytest.approx([float(cls), patch], rel=1e-4)
    assert float(loss) == pytest.approx(float(cls) + patch, rel=1e-4)
    assert z1.shape == (4, 4)
    # Without masks the patch term is 0.
    unmasked = ibot(mask_probability=0.0)
    unmasked.view_loss(*views, training=False)
    assert float(unmasked._parts[1]) == 0.0 and float(unmasked._parts[0]) > 0


def test_training_and_save(tmp_path):
    model = ibot(momentum=1.0, center_momentum=1.0)
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.0))
    history = model.fit(IMAGES, batch_size=4, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(history.history["loss"], np.add(history.history["cls_loss"],
                                                              history.history["patch_loss"]), rtol=1e-5)
    model.save(tmp_path / "ibot.keras")
    loaded = keras.saving.load_model(tmp_path / "ibot.keras")
    np.testing.assert_array_equal(np.asarray(loaded.patch_center), np.asarray(model.patch_center))
    np.testing.assert_allclose(np.asarray(loaded.cluster_features(IMAGES)), np.asarray(model.cluster_features(IMAGES)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="mask token"):
        IBOT(vit((16, 16, 1), "vit_test"), output_dim=4)
