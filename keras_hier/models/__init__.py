"""keras_hier models, registered for `.keras` saving under the package name `keras_hier`."""

from keras_hier.models.compositional_transfer import CompositionalTransferHead
from keras_hier.models.dual_encoder import DualEncoder
from keras_hier.models.hiernet import HierNet
from keras_hier.models.hirl import HIRL
from keras_hier.models.multilabel_zsl import MultiLabelZeroShot
from keras_hier.models.prototype_update import PrototypeUpdate

__all__ = ["CompositionalTransferHead", "DualEncoder", "HIRL", "HierNet", "MultiLabelZeroShot", "PrototypeUpdate"]
