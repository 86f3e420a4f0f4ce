"""External knowledge: WordNet, ImageNet class ids and class-name embeddings.

Submodules load lazily so that `import keras_hier.knowledge` stays cheap: `wordnet` (nltk), `imagenet`,
`embeddings` (GloVe, MiniLM through keras-hub), `prompts` (class texts).
"""

from keras_hier._lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, ("wordnet", "imagenet", "embeddings", "prompts"), globals())
