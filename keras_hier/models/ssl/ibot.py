"""`IBOT`: DINO's self-distillation on the class token plus masked image modelling distilled on patch tokens."""

import keras
from keras import ops

from keras_hier.backbones.vit import find_vision_transformer
from keras_hier.models.ssl.base import linear_warmup, safe_mean
from keras_hier.models.ssl.dino import DINO, distillation_loss, update_center
from keras_hier.models.ssl.masking import blockwise_masks, mask_ratios


def masked_patch_loss(teacher_probs, student_logits, masks):
    """iBOT's masked-image-modelling term for one large view: per patch, the cross entropy of the teacher's
    patch distribution (unmasked view) against the student's (masked view), averaged over each image's masked
    patches (0 for an image without any), then over the batch. `teacher_probs` [batch, patches, K],
    `student_logits` [batch, patches, K] (divided by the student temperature), `masks` [batch, patches] bool.

    Example:
    >>> import numpy as np
    >>> t = np.full((2, 3, 2), 0.5, "float32")
    >>> mask = np.array([[True, False, False], [False, False, False]])
    >>> round(float(masked_patch_loss(t, np.zeros((2, 3, 2), "float32"), mask)), 4)  # (log 2 + 0) / 2
    0.3466
    """
    per_patch = -ops.sum(ops.cast(teacher_probs, "float32") *
                         ops.log_softmax(ops.cast(student_logits, "float32"), axis=-1), axis=-1)
    weights = ops.cast(masks, "float32")
    per_image = ops.sum(per_patch * weights, axis=-1) / ops.maximum(ops.sum(weights, axis=-1), 1.0)
    return safe_mean(per_image)


@keras.saving.register_keras_serializable(package="keras_hier")
class IBOT(DINO):
    """iBOT (Zhou et al., 2022): DINO's loss on the class token (`DINO`), plus masked image modelling: the
    student sees each large view with blocks of patches replaced by a mask token (`blockwise_masks`; each image
    masked with probability `mask_probability` at a ratio uniform in `mask_ratio` +- `mask_ratio_spread`) and
    predicts, on the masked patches, the teacher's output for the same view unmasked. One head serves the class
    and the patch tokens for both networks (iBOT's shared head); the patch outputs have their own centre
    (`patch_center`, momentum `center_momentum`) and teacher temperature (`teacher_patch_temperature`, warmed up
    with the class token's). loss = cls_weight * L_cls + patch_weight * L_mim.

    The encoder must be a ViT with a mask token: `keras_hier.backbones.vit(..., mask_token=True)`. Under HIRL (the
    paper's notes): z_0 is the student head's bottleneck on the class token of the first large view, and the
    clustered features are the teacher's bottleneck on the class token (`cluster_features`).

    Args:
        encoder: a Functional ViT encoder with a mask token.
        output_dim: the shared head's outputs (iBOT: 8192).
        teacher_patch_temperature: the teacher's temperature on patch tokens after the warm-up (0.07).
        warmup_teacher_patch_temperature: at the start of the warm-up (0.04).
        mask_ratio, mask_ratio_spread, mask_probability: the masking (0.3, 0.2, 0.5: iBOT's ViT-B setting).
        cls_weight, patch_weight: lambda_1 and lambda_2 (1, 1).
        **kwargs: `DINO`'s arguments (temperatures, centre and teacher momentum, schedules, views; iBOT's large
            crops cover (0.32, 1) of the image, its small ones (0.05, 0.32)).

    `fit` reports `loss`, `cls_loss` and `patch_loss`. One step's loss by hand:

    Example:
    >>> import numpy as np
    >>> from keras_hier.backbones import vit
    >>> model = IBOT(vit((16, 16, 1), "vit_test", mask_token=True), output_dim=16, hidden_units=8,
    ...              bottleneck_units=4, num_local_crops=0, mask_probability=1.0, seed=0)
    >>> images = np.random.default_rng(0).uniform(size=(4, 16, 16, 1)).astype("float32")
    >>> loss, z0 = model.view_loss(*model.views(images), training=True)
    >>> tuple(z0.shape), bool(loss > 0)
    ((4, 4), True)
    """

    def __init__(self, encoder, output_dim=8192, teacher_patch_temperature=0.07,
                 warmup_teacher_patch_temperature=0.04, mask_ratio=0.3, mask_ratio_spread=0.2, mask_probability=0.5,
                 cls_weight=1.0, patch_weight=1.0, global_scale=(0.32, 1.0), local_scale=(0.05, 0.32), seed=None,
                 **kwargs):
        super().__init__(encoder, output_dim=output_dim, global_scale=global_scale, local_scale=local_scale,
                         **kwargs)
        self.preprocess, self.vit = find_vision_transformer(encoder)
        if not self.vit.use_mask_token:
            raise ValueError("iBOT masks patches: build the encoder's ViT with a mask token, e.g. "
                             "`keras_hier.backbones.vit(input_shape, preset, mask_token=True)`.")
        self.teacher_preprocess, self.teacher_vit = find_vision_transformer(self.teacher_encoder)
        if not 0 <= mask_ratio - mask_ratio_spread <= mask_ratio + mask_ratio_spread <= 1:
            raise ValueError(f"`mask_ratio` +- `mask_ratio_spread` must lie in [0, 1]; got {mask_ratio} +- "
                             f"{mask_ratio_spread}.")
        if not 0 <= mask_probability <= 1:
            raise ValueError(f"`mask_probability` must be in [0, 1]; got {mask_probability}.")
        self.teacher_patch_temperature = float(teacher_patch_temperature)
        self.warmup_teacher_patch_temperature = float(warmup_teacher_patch_temperature)
        self.mask_ratio, self.mask_ratio_spread = float(mask_ratio), float(mask_ratio_spread)
        self.mask_probability, self.cls_weight, self.patch_weight = float(mask_probability), float(cls_weight), \
            float(patch_weight)
        self.seed = seed
        self.mask_seed_generator = keras.random.SeedGenerator(seed)
        self.patch_center = self.add_weight(shape=(self.output_dim,), initializer="zeros", trainable=False,
                                            name="patch_center", aggregation="only_first_replica")
        self.part_trackers = [keras.metrics.Mean(name="cls_loss"), keras.metrics.Mean(name="patch_loss")]
        self._parts = None

    def masks(self, batch, grid):
        """Random block masks for `batch` images over the patch `grid` [batch, rows, columns]."""
        ratios = mask_ratios(batch, self.mask_ratio, self.mask_ratio_spread, self.mask_probability,
                             seed=self.mask_seed_generator)
        return blockwise_masks(ratios, grid, seed=self.mask_seed_generator)

    @staticmethod
    def _tokens(preprocess, vit, images, training, patch_mask=None):
        x = images if preprocess is None else preprocess(images, training=training)
        return vit(x, patch_mask=patch_mask, return_tokens=True, training=training)

    def view_loss(self, *views, training=True):
        """`(cls_weight * L_cls + patch_weight * L_mim, the first large view's raw class-token bottleneck z_0)`;
        updates both centres in training."""
        if len(views) < 2:
            raise ValueError(f"iBOT needs at least two views; got {len(views)}.")
        b = ops.shape(views[0])[0]
        globals_ = ops.concatenate(list(views[:2]), axis=0)
        grid = self.vit.grid if views[0].shape[1] is None else (views[0].shape[1] // self.vit.patch_size,
                                                               views[0].shape[2] // self.vit.patch_size)
        masks = self.masks(2 * b, grid)
        student_tokens = self._tokens(self.preprocess, self.vit, globals_, training, patch_mask=masks)
        bottleneck = self.head.bottleneck(student_tokens, training=training)  # the shared head on every token
        student = self.head.last_layer(bottleneck) / self.student_temperature
        student_cls = list(ops.split(student[:, 0], 2, axis=0))
        if len(views) > 2:
            local = self.head.last_layer(self.head.bottleneck(self.encode_local(views[2:], training),
                                                              training=training)) / self.student_temperature
            student_cls += list(ops.split(local, len(views) - 2, axis=0))
        teacher_tokens = self._tokens(self.teacher_preprocess, self.teacher_vit, globals_, training)
        teacher = ops.stop_gradient(self.teacher_head.last_layer(self.teacher_head.bottleneck(teacher_tokens,
                                                                                              training=training)))
        cls_probs = ops.softmax((teacher[:, 0] - ops.cast(self.center, "float32")) / self.teacher_temperature_now(),
                                axis=-1)
        patch_temperature = linear_warmup(self.warmup_teacher_patch_temperature, self.teacher_patch_temperature,
                                          self.steps_done, self.teacher_temperature_warmup_steps)
        patch_probs = ops.softmax((teacher[:, 1:] - ops.cast(self.patch_center, "float32")) / patch_temperature,
                                  axis=-1)
        cls_loss = distillation_loss(ops.split(cls_probs, 2, axis=0), student_cls)
        flat_masks = ops.reshape(masks, (2 * b, -1))
        patch_loss = sum(masked_patch_loss(t, s, m) for t, s, m in zip(
            ops.split(patch_probs, 2, axis=0), ops.split(student[:, 1:], 2, axis=0), ops.split(flat_masks, 2, axis=0)
        )) / 2.0
        if training:
            update_center(self.center, teacher[:, 0], self.center_momentum)
            update_center(self.patch_center, ops.mean(teacher[:, 1:], axis=1), self.center_momentum)
        self._parts = (cls_loss, patch_loss)
        loss = self.cls_weight * cls_loss + self.patch_weight * patch_loss
        return loss, bottleneck[:b, 0]

    def loss_parts(self):
        return self._parts  # (class-token loss, patch loss) of the last view_loss

    def _track(self, aux):
        logs = super()._track(aux)
        for tracker, value in zip(self.part_trackers, aux[2]):
            tracker.update_state(value)
        return {**logs, **{t.name: t.result() for t in self.part_trackers}}

    @property
    def metrics(self):
        return [self.loss_tracker, *self.part_trackers]

    def get_config(self):
        return {**super().get_config(), "teacher_patch_temperature": self.teacher_patch_temperature,
                "warmup_teacher_patch_temperature": self.warmup_teacher_patch_temperature,
                "mask_ratio": self.mask_ratio, "mask_ratio_spread": self.mask_ratio_spread,
                "mask_probability": self.mask_probability, "cls_weight": self.cls_weight,
                "patch_weight": self.patch_weight, "seed": self.seed}
