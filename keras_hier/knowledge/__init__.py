"""External knowledge: WordNet, ImageNet class ids, class-name embeddings and the class graph.

Submodules load lazily so that `import keras_hier.knowledge` stays cheap: `wordnet` (nltk), `imagenet`,
`embeddings` (GloVe, MiniLM through keras-hub), `prompts` (class texts), `label_sets` (COCO / NUS-WIDE classes
and synsets), `graph` (`ClassGraph` on TF-GNN).
"""

from keras_hier._lazy import lazy_submodules

_SUBMODULES = ("wordnet", "imagenet", "embeddings", "prompts", "label_sets", "graph")
_ATTRIBUTES = {"ClassGraph": "keras_hier.knowledge.graph"}
__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES, globals(), attributes=_ATTRIBUTES)
