"""Backbones: CIFAR ResNets whose layers are named so that HierNet can cut them into a tree, a small CNN encoder
for self-supervised runs on a CPU, a small Vision Transformer for the ViT-based self-supervised methods, and
`set_batch_norm_momentum` for keras.applications backbones fine-tuned briefly."""

from keras_hier.backbones.batch_norm import set_batch_norm_momentum
from keras_hier.backbones.convnet import convnet
from keras_hier.backbones.resnet_cifar import block_name
from keras_hier.backbones.resnet_cifar import resnet_cifar
from keras_hier.backbones.vit import VIT_PRESETS, VisionTransformer, vit

__all__ = ["VIT_PRESETS", "VisionTransformer", "block_name", "convnet", "resnet_cifar", "set_batch_norm_momentum",
           "vit"]
