"""Backbone CNNs whose layers are named so that HierNet can cut them into a tree."""

from keras_hier.backbones.resnet_cifar import block_name
from keras_hier.backbones.resnet_cifar import resnet_cifar

__all__ = ["resnet_cifar", "block_name"]
