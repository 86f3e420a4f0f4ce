"""Backbone CNNs: CIFAR ResNets whose layers are named so that HierNet can cut them into a tree, and a small CNN
encoder for self-supervised runs on a CPU."""

from keras_hier.backbones.convnet import convnet
from keras_hier.backbones.resnet_cifar import block_name
from keras_hier.backbones.resnet_cifar import resnet_cifar

__all__ = ["convnet", "resnet_cifar", "block_name"]
