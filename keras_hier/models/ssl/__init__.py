"""Self-supervised base methods that HIRL builds on: the paper's six — `MoCoV2`, `SimSiam`, `SwAV` (CNNs) and
`MoCoV3`, `DINO`, `IBOT` (Vision Transformers) — and `SimCLR`, each a `keras.Model` with its own `train_step`;
their `view_augmentation` (and `jit_ready`, which lets Keras' geometric augmentation layers compile under JAX), the
multi-crop base `MultiCropModel` and the shared base class `SelfSupervisedModel`."""

from keras_hier.models.ssl.augmentation import jit_ready, view_augmentation
from keras_hier.models.ssl.base import SelfSupervisedModel
from keras_hier.models.ssl.dino import DINO
from keras_hier.models.ssl.ibot import IBOT
from keras_hier.models.ssl.moco import MoCoV2
from keras_hier.models.ssl.moco_v3 import MoCoV3
from keras_hier.models.ssl.multi_crop import MultiCropModel
from keras_hier.models.ssl.simclr import SimCLR
from keras_hier.models.ssl.simsiam import SimSiam
from keras_hier.models.ssl.swav import SwAV

METHODS = {"simclr": SimCLR, "moco_v2": MoCoV2, "simsiam": SimSiam, "swav": SwAV, "moco_v3": MoCoV3, "dino": DINO,
           "ibot": IBOT}

__all__ = ["DINO", "IBOT", "METHODS", "MoCoV2", "MoCoV3", "MultiCropModel", "SelfSupervisedModel", "SimCLR",
           "SimSiam", "SwAV", "jit_ready", "view_augmentation"]
