"""Self-supervised base methods that HIRL builds on: `SimCLR`, `MoCoV2`, `SimSiam` (each a `keras.Model` with its
own `train_step`), their `view_augmentation` and the shared base class `SelfSupervisedModel`."""

from keras_hier.models.ssl.augmentation import view_augmentation
from keras_hier.models.ssl.base import SelfSupervisedModel
from keras_hier.models.ssl.moco import MoCoV2
from keras_hier.models.ssl.simclr import SimCLR
from keras_hier.models.ssl.simsiam import SimSiam

METHODS = {"simclr": SimCLR, "moco_v2": MoCoV2, "simsiam": SimSiam}

__all__ = ["METHODS", "MoCoV2", "SelfSupervisedModel", "SimCLR", "SimSiam", "view_augmentation"]
