"""`DINO`: self-distillation with no labels, a student matching a momentum teacher's centred, sharpened outputs."""

import keras
from keras import ops

from keras_hier._validation import check_number
from keras_hier.backbones.vit import clone_without_stochastic_depth
from keras_hier.distribute import all_sum
from keras_hier.layers.dino_head import DINOHead
from keras_hier.models.ssl.base import (add_step_counter, cosine_schedule, count_step, ema_update, unit,
                                        frozen_for_steps, linear_warmup, safe_mean)
from keras_hier.models.ssl.multi_crop import MultiCropModel


def distillation_loss(teacher_probs, student_logits, skip_same=True):
    """DINO's loss: the mean, over every (teacher view q, student view v) pair with v != q (when `skip_same`), of
    the batch mean of the cross entropy -sum(P_t(q) * log_softmax(student_v)). `teacher_probs` is a list of
    [batch, K] probabilities (the large views), `student_logits` a list of [batch, K] logits already divided by the
    student temperature (the large views first, in the same order). Float32; 0 on an empty batch.

    Example:
    >>> import numpy as np
    >>> p = [np.full((1, 2), 0.5, "float32")] * 2
    >>> round(float(distillation_loss(p, [np.zeros((1, 2), "float32")] * 3)), 4)  # log 2
    0.6931
    """
    total, terms = 0.0, 0
    for q, probs in enumerate(teacher_probs):
        for v, logits in enumerate(student_logits):
            if skip_same and v == q:
                continue
            log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
            total = total + safe_mean(-ops.sum(ops.cast(probs, "float32") * log_p, axis=-1))
            terms += 1
    return total / max(terms, 1)


def update_center(center, outputs, momentum):
    """`center <- momentum * center + (1 - momentum) * mean of outputs` over the global batch (every replica's
    rows; the leading axes of `outputs` are averaged, the last one kept)."""
    outputs = ops.cast(outputs, "float32")
    rows = ops.reshape(outputs, (-1, outputs.shape[-1]))
    total = all_sum(ops.sum(rows, axis=0))
    count = all_sum(ops.cast(ops.shape(rows)[0], "float32"))
    mean = total / ops.maximum(count, 1.0)
    current = ops.convert_to_tensor(center)
    center.assign(momentum * current + (1.0 - momentum) * ops.where(count > 0, mean, current))


@keras.saving.register_keras_serializable(package="keras_hier")
class DINO(MultiCropModel):
    """DINO (Caron et al., 2021): a student (encoder + `DINOHead`) on every view predicts the teacher's output on
    the *other* large views; the teacher (a copy of the student without its stochastic depth, moved by momentum,
    never trained) sees only the
    two large views. Teacher outputs are centred (`center`, a running mean over the global batch with momentum
    `center_momentum`) and sharpened (softmax at `teacher_temperature`, warmed up linearly from
    `warmup_teacher_temperature` over `teacher_temperature_warmup_steps`); the student's at
    `student_temperature`. The teacher momentum follows a cosine from `momentum` to 1 over
    `momentum_schedule_steps` (constant when 0) and is applied before each step, as HIRL's reference code. The
    head's last layer gets no update for the first `freeze_last_layer_steps` steps (DINO: one epoch).

    Under HIRL (the paper's notes): z_0 is the student head's raw bottleneck on the first large view,
    and the clustered features are the teacher's bottleneck (`cluster_features`); 256-d by default.

    Args:
        encoder: a Functional `keras.Model` from images to features (`keras_hier.backbones.vit`, or a CNN).
        output_dim: `DINOHead` outputs (the paper: 65536).
        hidden_units, bottleneck_units, head_layers: the head's MLP (2048, 256, 3).
        norm_last_layer: the head's last layer with its weight norm fixed (True, as DINO's ViTs).
        student_temperature: 0.1.
        teacher_temperature: 0.04 to 0.07 in the paper (0.07 after the warm-up).
        warmup_teacher_temperature: where the warm-up starts (0.04).
        teacher_temperature_warmup_steps: length of the warm-up in steps (the paper: 30 epochs; 0: none).
        center_momentum: 0.9.
        momentum: the teacher momentum at step 0 (0.996).
        momentum_schedule_steps: total training steps of the cosine to 1 (0: constant `momentum`).
        freeze_last_layer_steps: steps during which the head's last layer is frozen (DINO: one epoch).
        num_local_crops, local_size, global_scale, local_scale, augmentation, local_augmentation: the views
            (`MultiCropModel`; DINO: 2 large crops of (0.4, 1) and 10 small ones of (0.05, 0.4) at 96 of 224 px).

    Train it with `model.compile(optimizer=...)` and `model.fit(images, ...)`; one step's loss by hand:

    Example:
    >>> import numpy as np
    >>> from keras_hier.backbones import vit
    >>> model = DINO(vit((8, 8, 1), "vit_test"), output_dim=16, hidden_units=8, bottleneck_units=4,
    ...              num_local_crops=2, local_size=4)
    >>> images = np.random.default_rng(0).uniform(size=(4, 8, 8, 1)).astype("float32")
    >>> loss, z0 = model.view_loss(*model.views(images), training=True)
    >>> tuple(z0.shape), float(np.abs(model.center.numpy()).sum()) > 0  # the centre moved
    ((4, 4), True)
    """

    def __init__(self, encoder, output_dim=65536, hidden_units=2048, bottleneck_units=256, head_layers=3,
                 norm_last_layer=True, student_temperature=0.1, teacher_temperature=0.07,
                 warmup_teacher_temperature=0.04, teacher_temperature_warmup_steps=0, center_momentum=0.9,
                 momentum=0.996, momentum_schedule_steps=0, freeze_last_layer_steps=0, num_local_crops=2,
                 local_size=None, global_scale=(0.4, 1.0), local_scale=(0.05, 0.4), augmentation=None,
                 local_augmentation=None, **kwargs):
        super().__init__(encoder, num_local_crops=num_local_crops, local_size=local_size, global_scale=global_scale,
                         local_scale=local_scale, augmentation=augmentation, local_augmentation=local_augmentation,
                         **kwargs)
        for name, value in (("student_temperature", student_temperature), ("teacher_temperature", teacher_temperature),
                            ("warmup_teacher_temperature", warmup_teacher_temperature)):
            check_number(value, name, low=0, low_open=True)
        for name, value in (("center_momentum", center_momentum), ("momentum", momentum)):
            check_number(value, name, low=0, high=1)
        self.output_dim, self.hidden_units, self.bottleneck_units = int(output_dim), int(hidden_units), \
            int(bottleneck_units)
        self.head_layers, self.norm_last_layer = int(head_layers), bool(norm_last_layer)
        self.student_temperature, self.teacher_temperature = float(student_temperature), float(teacher_temperature)
        self.warmup_teacher_temperature = float(warmup_teacher_temperature)
        self.teacher_temperature_warmup_steps = int(teacher_temperature_warmup_steps)
        self.center_momentum, self.momentum = float(center_momentum), float(momentum)
        self.momentum_schedule_steps, self.freeze_last_layer_steps = int(momentum_schedule_steps), \
            int(freeze_last_layer_steps)
        head = dict(units=self.output_dim, hidden_units=self.hidden_units, bottleneck_units=self.bottleneck_units,
                    num_layers=self.head_layers, norm_last_layer=self.norm_last_layer)
        self.head = DINOHead(**head, name="head")
        self.teacher_encoder = clone_without_stochastic_depth(encoder)  # the reference's teacher: drop-path 0
        self.teacher_head = DINOHead(**head, name="teacher_head")
        self.build_heads(self.head, self.teacher_head)
        ema_update(self._teacher_weights(), self._student_weights(), 0.0)  # the teacher starts as the student
        self.center = self.add_weight(shape=(self.output_dim,), initializer="zeros", trainable=False, name="center",
                                      aggregation="only_first_replica")
        add_step_counter(self)

    @property
    def embedding_dim(self):
        return self.bottleneck_units

    def _student_weights(self):
        return self.encoder.weights + self.head.weights

    def _teacher_weights(self):
        return self.teacher_encoder.weights + self.teacher_head.weights

    @property
    def online_variables(self):
        return self.encoder.trainable_variables + self.head.trainable_variables

    def project(self, images, training=False):
        return self.head.bottleneck(self.encoder(images, training=training), training=training)

    def cluster_features(self, images):
        return unit(self.teacher_head.bottleneck(self.teacher_encoder(images, training=False), training=False))

    def teacher_temperature_now(self):
        """The teacher temperature at this step (the warm-up's)."""
        return linear_warmup(self.warmup_teacher_temperature, self.teacher_temperature, self.steps_done,
                             self.teacher_temperature_warmup_steps)

    def before_step(self):
        momentum = cosine_schedule(self.momentum, 1.0, self.steps_done, self.momentum_schedule_steps)
        # Parameters only, as the reference code (a CNN teacher's batch-norm statistics stay its own).
        ema_update(self.teacher_encoder.trainable_weights + self.teacher_head.trainable_weights,
                   self.encoder.trainable_weights + self.head.trainable_weights, momentum)

    def after_step(self):
        count_step(self)

    def adjust_gradients(self, gradients, variables):
        return frozen_for_steps(gradients, variables, (self.head.last_direction, self.head.last_norm), self,
                                self.freeze_last_layer_steps)

    def _student_logits(self, views, training):
        """The student's head outputs on every view, divided by the student temperature, and its bottleneck on
        the first large view."""
        b = ops.shape(views[0])[0]
        features = self.encoder(ops.concatenate(list(views[:2]), axis=0), training=training)
        bottleneck = self.head.bottleneck(features, training=training)
        logits = [self.head.last_layer(bottleneck)]
        if len(views) > 2:
            logits.append(self.head.last_layer(self.head.bottleneck(self.encode_local(views[2:], training),
                                                                    training=training)))
        logits = ops.concatenate(logits, axis=0) / self.student_temperature
        return ops.split(logits, len(views), axis=0), bottleneck[:b]

    def _teacher_probs(self, views, training):
        """`(teacher softmax on each large view [list of batch x K], the raw teacher outputs)`."""
        teacher = self.teacher_head.last_layer(self.teacher_head.bottleneck(
            self.teacher_encoder(ops.concatenate(list(views[:2]), axis=0), training=training), training=training))
        teacher = ops.stop_gradient(teacher)
        probs = ops.softmax((teacher - ops.cast(self.center, "float32")) / self.teacher_temperature_now(), axis=-1)
        return ops.split(probs, 2, axis=0), teacher

    def view_loss(self, *views, training=True):
        """`(DINO's cross entropy over the view pairs, the first large view's raw bottleneck z_0)`; updates the
        centre in training."""
        if len(views) < 2:
            raise ValueError(f"DINO needs at least two views; got {len(views)}.")
        student, bottleneck = self._student_logits(views, training)
        probs, teacher = self._teacher_probs(views, training)
        loss = distillation_loss(probs, student)
        if training:
            update_center(self.center, teacher, self.center_momentum)
        return loss, bottleneck

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim, "hidden_units": self.hidden_units,
                "bottleneck_units": self.bottleneck_units, "head_layers": self.head_layers,
                "norm_last_layer": self.norm_last_layer, "student_temperature": self.student_temperature,
                "teacher_temperature": self.teacher_temperature,
                "warmup_teacher_temperature": self.warmup_teacher_temperature,
                "teacher_temperature_warmup_steps": self.teacher_temperature_warmup_steps,
                "center_momentum": self.center_momentum, "momentum": self.momentum,
                "momentum_schedule_steps": self.momentum_schedule_steps,
                "freeze_last_layer_steps": self.freeze_last_layer_steps}
