"""Keras 3 layers of keras_hier, each registered for `.keras` saving under the package name `keras_hier`."""

from keras_hier.layers.clip_embedding import CLIPEmbedding
from keras_hier.layers.cosine_classifier import CosineClassifier
from keras_hier.layers.dino_head import DINOHead
from keras_hier.layers.minilm_embedding import MiniLMEmbedding
from keras_hier.layers.gated_graph_propagation import GatedGraphPropagation
from keras_hier.layers.learned_adjacency import LearnedAdjacency
from keras_hier.layers.per_image_gaussian_blur import PerImageGaussianBlur
from keras_hier.layers.pos_vae import PosVAE
from keras_hier.layers.projection_head import ProjectionHead
from keras_hier.layers.random_apply import RandomApply
from keras_hier.layers.relational_graph_conv import RelationalGraphConv
from keras_hier.layers.risk_minimising_decision import RiskMinimisingDecision
from keras_hier.layers.tree_probability import TreeProbability

__all__ = [
    "CLIPEmbedding",
    "CosineClassifier",
    "DINOHead",
    "MiniLMEmbedding",
    "GatedGraphPropagation",
    "LearnedAdjacency",
    "PerImageGaussianBlur",
    "PosVAE",
    "ProjectionHead",
    "RandomApply",
    "RelationalGraphConv",
    "RiskMinimisingDecision",
    "TreeProbability",
]
