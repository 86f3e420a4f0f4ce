"""`ClassGraph`: the knowledge graph of multi-label zero-shot learning — target classes and external (ImageNet)
classes joined where WordNet calls them similar, as a TF-GNN `GraphTensor`."""

import numpy as np

KINDS = ("seen", "unseen", "external")
# The relation types of Lee et al.'s structured knowledge graph (SKG), as its code builds them: for a receiving
# node u and a sending node v, "similar" (WUP >= the graph's threshold), "dissimilar" (WUP < 0.11 by default),
# "from_parent" (u is a hyponym of v) and "from_child" (u is a hypernym of v); the last two take precedence.
RELATIONS = ("similar", "dissimilar", "from_parent", "from_child")
NODE_SET, EDGE_SET = "classes", "similar"


class ClassGraph:
    """Target classes (seen and unseen) and external classes, with an edge wherever the WordNet Wu-Palmer
    similarity of two classes reaches `threshold`, plus a self loop on every node.

    Nodes are ordered targets first (in label order: node `i` is target class `i`), then the external classes.
    Edges are directed pairs `(source, target)`, both directions of each similar pair and every self loop,
    sorted by target then source; `wup` holds each edge's similarity (1 for self loops). A target class whose
    synset is `None` has only its self loop.

    Build one with `ClassGraph.build(...)`; `training_graph()` leaves the unseen nodes out (as training must),
    and `to_graph_tensor()` gives the `tfgnn.GraphTensor` (node set "classes", edge set "similar").

    Args:
        names: the node names (targets, then external classes).
        synsets: one WordNet synset name or id per node, or None (no synset: an isolated node).
        kinds: one of "seen", "unseen", "external" per node; targets first.
        features: float32 [num_nodes, dim], the nodes' semantic vectors (class-name embeddings).
        threshold: the WUP similarity an edge needs.

    Example:
    >>> g = ClassGraph(["cat", "dog", "car"], ["cat.n.01", "dog.n.01", "car.n.01"], ["seen", "unseen", "seen"],
    ...                np.eye(3, dtype="float32"))
    >>> g.edges.tolist()  # [source, target]: cat <-> dog (WUP 0.86) and the self loops
    [[0, 0], [1, 0], [0, 1], [1, 1], [2, 2]]
    """

    def __init__(self, names, synsets, kinds, features, threshold=0.5, *, _wup=None, _relations=None):
        from keras_hier.knowledge import wordnet

        names = [str(n) for n in names]
        n = len(names)
        if not n:
            raise ValueError("A class graph needs at least one class.")
        if len(set(names)) != n:
            dup = next(x for x in names if names.count(x) > 1)
            raise ValueError(f"Class {dup!r} appears twice: node names must be unique.")
        synsets, kinds = list(synsets), [str(k) for k in kinds]
        if len(synsets) != n or len(kinds) != n:
            raise ValueError(f"Got {n} names, {len(synsets)} synsets and {len(kinds)} kinds: one of each per node.")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"Unknown node kind {bad[0]!r}: use one of {KINDS}.")
        is_external = np.array([k == "external" for k in kinds])
        if is_external.any() and not is_external[np.argmax(is_external):].all():
            raise ValueError("External classes must come after all target classes.")
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"`features` must be [{n}, dim] (one vector per node); got {features.shape}.")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` is a WUP similarity in [0, 1]; got {threshold}.")

        self.names = tuple(names)
        self.kinds = tuple(kinds)
        self.dropped_external = ()  # set by `build`
        self.features = features
        self.threshold = float(threshold)
        present = [i for i, s in enumerate(synsets) if s is not None]
        if _wup is not None and all(s is None or isinstance(s, str) for s in synsets):
            self.synsets = tuple(synsets)  # a subgraph or a saved graph: ids already resolved, WordNet not needed
        else:
            self.synsets = tuple(None if s is None else wordnet.wnid(s) for s in _as_synsets(synsets, names))
        if _wup is None:
            _wup = np.zeros((n, n))
            if present:
                _wup[np.ix_(present, present)] = np.nan_to_num(wordnet.wup_matrix([self.synsets[i] for i in present]))
        adjacency = _wup >= self.threshold
        np.fill_diagonal(adjacency, True)
        target, source = np.nonzero(adjacency)  # row-major: sorted by target, then source
        self.edges = np.stack([source, target], axis=1).astype(np.int64)
        self.wup = np.where(source == target, 1.0, _wup[target, source]).astype(np.float32)
        self._wup = _wup
        self._relations = None if _relations is None else np.asarray(_relations, np.int8)
        self._relations_negative = 0.11

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        targets,
        unseen=(),
        target_synsets=None,
        external="imagenet1k",
        external_synsets=None,
        embeddings="glove",
        threshold=0.5,
        glove_path=None,
        glove_dim=50,
        verbose="auto",
    ):
        """The class graph of a multi-label data set and an external label space.

        Args:
            targets: the target class names in label order.
            unseen: the unseen target classes (names); the others are seen.
            target_synsets: optional dict name -> WordNet synset name / id (or None for no synset). Default: the
                shipped COCO-80 / NUS-WIDE-81 tables (`label_sets`) for their names, else `<name>.n.01`.
            external: `"imagenet1k"`, a list of external class names, or None (no external node).
            external_synsets: the external classes' WordNet ids, one per name (needed for a list `external`).
            embeddings: `"glove"` (50-d bundled, or `glove_dim` from `glove_path`), `"minilm"`
                (all-MiniLM-L6-v2 sentence embeddings of the names), or an array [targets + externals, dim].
            threshold: the WUP similarity an edge needs (the paper: 0.5).
            glove_path, glove_dim: a GloVe text file and its vector size, e.g. 300-d `glove.6B.300d.txt`.
            verbose: show a progress bar of the steps (WordNet, synsets, embeddings, similarities); `"auto"`: for
                graphs of 200 nodes or more (ImageNet-1k as the external space: about half a minute).

        External classes that are the same WordNet synset as a target class are left out (they would give the
        target's answer away); `dropped_external` lists them. An external name that repeats (ImageNet has two
        "missile" classes) or equals a target name gets its WordNet id appended. GloVe names with no known
        word take the vector of a synonym or of the nearest hypernym.

        Example:
        >>> g = ClassGraph.build(["dog", "cat", "car"], unseen=["cat"], external=None)
        >>> g.num_nodes, g.kinds
        (3, ('seen', 'unseen', 'seen'))
        """
        from tqdm.auto import tqdm

        from keras_hier.knowledge import label_sets, wordnet

        big = isinstance(external, str) or len(targets) + len(external or []) >= 200
        show = big if verbose == "auto" else bool(verbose)
        wordnet.load_wordnet()  # says so when it takes long (the first time in a process)
        progress = tqdm(total=3, unit="step", disable=not show, bar_format="{desc} ({n}/{total}) [{elapsed}]")
        progress.set_description_str("ClassGraph.build: synsets")
        targets = [str(t) for t in targets]
        unknown = [u for u in unseen if u not in targets]
        if unknown:
            raise ValueError(f"Unseen class(es) {unknown[:5]} are not among the targets.")
        given = dict(target_synsets or {})  # a lookup table: entries for other classes are allowed
        for name, synset in given.items():
            if synset is not None:
                try:
                    wordnet.as_synsets([synset])
                except ValueError as error:
                    raise ValueError(f"`target_synsets[{name!r}]` = {synset!r} is not a WordNet synset name "
                                     f"('dog.n.01') or id ('n02084071'): {error}") from None
        table = {**label_sets.NUS_WIDE_SYNSETS, **label_sets.COCO_SYNSETS, **given}
        synsets = [table[t] if t in table else _default_synset(t) for t in targets]
        kinds = ["unseen" if t in set(unseen) else "seen" for t in targets]

        external_names, dropped, kept = [], [], []
        if external is not None:
            if isinstance(external, str):
                if external != "imagenet1k":
                    raise ValueError(f"Unknown external label space {external!r}: use 'imagenet1k' or a list of names.")
                from keras_hier.knowledge import imagenet

                external, external_synsets = imagenet.imagenet1k_names("clean"), imagenet.imagenet1k_wnids()
            external = [str(e) for e in external]
            if external_synsets is None or len(external_synsets) != len(external):
                raise ValueError("Give `external_synsets`: one WordNet id per external class.")
            taken = {wordnet.wnid(s) for s in _as_synsets(synsets, targets) if s is not None}
            ext_ids = [wordnet.wnid(s) for s in _as_synsets(external_synsets, external)]
            repeated = {n for n in external if external.count(n) > 1} | set(targets)
            for i, (name, wnid) in enumerate(zip(external, ext_ids)):
                if wnid in taken:
                    dropped.append(name)
                else:  # ImageNet has two "missile" classes, for example: their ids tell them apart.
                    kept.append(len(targets) + i)
                    external_names.append(f"{name} ({wnid})" if name in repeated else name)
                    synsets.append(wnid)
                    kinds.append("external")
        names = targets + external_names
        progress.update()
        progress.set_description_str(f"ClassGraph.build: embeddings of {len(names)} names")
        if isinstance(embeddings, str):
            if embeddings == "glove":
                features = _glove_with_fallback(names, synsets, glove_dim, glove_path)
            elif embeddings == "minilm":
                from keras_hier.knowledge.embeddings import sentence_embeddings

                features = sentence_embeddings(names)
            else:
                raise ValueError(f"Unknown `embeddings` {embeddings!r}: use 'glove', 'minilm' or an array.")
        else:
            features = np.asarray(embeddings, np.float32)
            if len(features) == len(targets) + len(external or []) and dropped:  # rows given before dropping
                features = features[list(range(len(targets))) + kept]
        progress.update()
        progress.set_description_str(f"ClassGraph.build: WUP similarities of {len(names)} nodes")
        graph = cls(names, synsets, kinds, features, threshold)
        graph.dropped_external = tuple(dropped)
        progress.set_description_str(f"ClassGraph.build: {graph.num_nodes} nodes, {graph.num_edges} edges")
        progress.update()
        progress.close()
        return graph

    # ------------------------------------------------------------------ views

    @property
    def num_nodes(self):
        """Nodes of the graph (targets first, then external classes)."""
        return len(self.names)

    @property
    def num_edges(self):
        """Directed edges of the graph (self loops included)."""
        return len(self.edges)

    @property
    def num_targets(self):
        """The number of target classes (nodes 0..num_targets-1)."""
        return int(np.sum(self.mask("external") == 0))

    def mask(self, kind):
        """Boolean [num_nodes]: the nodes of `kind` ("seen", "unseen", "external", or "target")."""
        if kind == "target":
            return np.array([k != "external" for k in self.kinds])
        if kind not in KINDS:
            raise ValueError(f"Unknown node kind {kind!r}: use one of {KINDS + ('target',)}.")
        return np.array([k == kind for k in self.kinds])

    def indices(self, kind):
        """int array of the nodes of `kind`."""
        return np.flatnonzero(self.mask(kind))

    def external_columns(self, class_ids="imagenet1k"):
        """Where each external node's class is in a backbone's output: the column of its WordNet id in
        `class_ids`, in external-node order (`indices("external")`). What `MultiLabelZeroShot`'s
        `external_columns` takes when the backbone predicts a label space in another order or a larger one.

        Args:
            class_ids: the backbone's classes as WordNet ids, in its output order; `"imagenet1k"` (default): the
                1000 ImageNet-1k classes in the standard order (`imagenet.imagenet1k_wnids()`), as
                keras.applications and keras-hub ImageNet classifiers output them.

        Raises:
            ValueError: naming an external node whose class the backbone does not predict.

        Example:
        >>> g = ClassGraph.build(["dog", "cat"], unseen=["cat"], external=["grey wolf", "tabby cat"],
        ...                      external_synsets=["n02114367", "n02123045"])
        >>> g.external_columns()  # the two classes' places among ImageNet-1k's outputs
        [269, 281]
        """
        if isinstance(class_ids, str):
            if class_ids != "imagenet1k":
                raise ValueError(f"Unknown label space {class_ids!r}: use 'imagenet1k' or a list of WordNet ids.")
            from keras_hier.knowledge.imagenet import imagenet1k_wnids

            class_ids = imagenet1k_wnids()
        position = {str(c): i for i, c in enumerate(class_ids)}
        columns = []
        for node in self.indices("external"):
            wnid = self.synsets[node]
            if wnid not in position:
                raise ValueError(f"External node {self.names[node]!r} ({wnid}) is not among the backbone's "
                                 f"{len(position)} classes: build the graph with external classes it predicts.")
            columns.append(position[wnid])
        return columns

    def adjacency(self):
        """Dense boolean [num_nodes, num_nodes]: `a[target, source]` is True where an edge (or self loop) is."""
        a = np.zeros((self.num_nodes, self.num_nodes), bool)
        a[self.edges[:, 1], self.edges[:, 0]] = True
        return a

    @property
    def density(self):
        """The share of node pairs (self loops included) that are edges."""
        return self.num_edges / float(self.num_nodes**2)

    def relations(self, negative_threshold=0.11):
        """The typed edges of Lee et al.'s structured knowledge graph (SKG) over these classes: int64 [R, 3] rows
        `(source, target, type)` with `type` an index into `RELATIONS`, sorted by target, then source; no self
        loops, none for a node without a synset. Hypernymy comes from WordNet (computed once and kept, so a
        saved graph needs no WordNet).

        Args:
            negative_threshold: the WUP similarity below which two classes are "dissimilar" (SKG: 0.11).

        Example:
        >>> g = ClassGraph(["dog", "animal", "car"], ["dog.n.01", "animal.n.01", "car.n.01"], ["seen"] * 3,
        ...                np.eye(3, dtype="float32"), threshold=0.9)
        >>> [(int(v), int(u), RELATIONS[t]) for v, u, t in g.relations()]
        [(1, 0, 'from_parent'), (0, 1, 'from_child')]
        """
        if self._relations is None or self._relations_negative != negative_threshold:
            from keras_hier.knowledge import wordnet

            n = self.num_nodes
            matrix = np.full((n, n), -1, np.int8)  # matrix[u, v]: the relation u receives from v
            present = [i for i, s in enumerate(self.synsets) if s is not None]
            for i, j in ((i, j) for i in present for j in present if i != j):
                wup = self._wup[i, j]
                matrix[i, j] = 0 if wup >= self.threshold else (1 if wup < negative_threshold else -1)
            synsets = {i: wordnet.synset_from_wnid(self.synsets[i]) for i in present}
            ancestors = {i: wordnet._up_distances(synsets[i]) for i in present}
            for i in present:
                for j in present:
                    if i != j and synsets[j] in ancestors[i]:  # i is a hyponym of j
                        matrix[i, j], matrix[j, i] = 2, 3
            self._relations, self._relations_negative = matrix, negative_threshold
        target, source = np.nonzero(self._relations >= 0)
        return np.stack([source, target, self._relations[target, source]], axis=1).astype(np.int64)

    def subgraph(self, nodes):
        """The graph on `nodes` (indices or names, kept in the given order; targets must stay before externals)."""
        nodes = [self.names.index(n) if isinstance(n, str) and n in self.names else n for n in nodes]
        bad = [n for n in nodes if isinstance(n, str) or isinstance(n, bool) or not float(n).is_integer()
               or not 0 <= int(n) < self.num_nodes]
        if bad:
            raise ValueError(f"`subgraph` nodes {bad[:5]} are neither node names nor indices in "
                             f"0..{self.num_nodes - 1}.")
        if not nodes:
            raise ValueError("`subgraph` needs at least one node.")
        nodes = [int(i) for i in nodes]
        if len(set(nodes)) != len(nodes):
            raise ValueError("`subgraph` nodes must not repeat.")
        out = ClassGraph(
            [self.names[i] for i in nodes],
            [self.synsets[i] for i in nodes],
            [self.kinds[i] for i in nodes],
            self.features[nodes],
            self.threshold,
            _wup=self._wup[np.ix_(nodes, nodes)],
            _relations=None if self._relations is None else self._relations[np.ix_(nodes, nodes)],
        )
        out._relations_negative = self._relations_negative
        out.dropped_external = self.dropped_external
        return out

    def training_graph(self):
        """The graph without its unseen nodes, as training sees it."""
        return self.subgraph(np.flatnonzero(~self.mask("unseen")))

    def to_graph_tensor(self):
        """A `tfgnn.GraphTensor`: node set "classes" (features "embedding", "seen", "unseen", "external") and
        edge set "similar" (feature "wup") from `edges[:, 0]` to `edges[:, 1]`."""
        return graph_tensor(
            self.edges[:, 0],
            self.edges[:, 1],
            self.num_nodes,
            node_features={
                "embedding": self.features,
                **{k: self.mask(k) for k in KINDS},
            },
            edge_features={"wup": self.wup},
        )

    def __repr__(self):
        counts = ", ".join(f"{k} {int(self.mask(k).sum())}" for k in KINDS)
        return f"ClassGraph({counts}; {self.num_edges} edges, threshold {self.threshold})"


def graph_tensor(sources, targets, num_nodes, node_features=None, edge_features=None):
    """A single-graph `tfgnn.GraphTensor` with node set "classes" and edge set "similar".

    Args:
        sources, targets: int edge endpoints.
        num_nodes: the number of nodes (an int or a scalar tensor).
        node_features: optional dict name -> array [num_nodes, ...]; extra dimensions are allowed, e.g.
            [num_nodes, batch, dim] to carry one state per image.
        edge_features: optional dict name -> array [num_edges, ...].
    """
    import tensorflow as tf

    import keras_hier  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TF-GNN is imported)
    import tensorflow_gnn as tfgnn

    sources = tf.cast(sources, tf.int32)
    targets = tf.cast(targets, tf.int32)
    return tfgnn.GraphTensor.from_pieces(
        node_sets={
            NODE_SET: tfgnn.NodeSet.from_fields(
                sizes=tf.reshape(tf.cast(num_nodes, tf.int32), [1]), features=dict(node_features or {})
            )
        },
        edge_sets={
            EDGE_SET: tfgnn.EdgeSet.from_fields(
                sizes=tf.reshape(tf.size(sources), [1]),
                adjacency=tfgnn.Adjacency.from_indices(source=(NODE_SET, sources), target=(NODE_SET, targets)),
                features=dict(edge_features or {}),
            )
        },
    )


def _glove_with_fallback(names, synsets, dim, path):
    """GloVe vectors of the names; a name with no known word takes its synset's other lemmas, else its
    nearest hypernym's up to three levels ("Otterhound" -> "hound"), else stays zero. One warning sums up the fallbacks."""
    import warnings

    from keras_hier.knowledge import wordnet
    from keras_hier.knowledge.embeddings import glove_embeddings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = glove_embeddings(names, dim=dim, path=path, on_unknown="zero")
        missing = [i for i in range(len(names)) if not out[i].any() and synsets[i] is not None]
        if not missing:
            return out
        alternatives = {}
        for i in missing:
            synset = wordnet.as_synsets([synsets[i]])[0]
            options, level = [" ".join(synset.lemma_names()).replace("_", " ")], [synset]
            for _ in range(3):  # up to three hypernym levels
                level = [h for s in level for h in s.hypernyms() + s.instance_hypernyms()]
                options += [" ".join(h.lemma_names()).replace("_", " ") for h in level]
            alternatives[i] = options
        flat = [text for i in missing for text in alternatives[i]]
        vectors = dict(zip(flat, glove_embeddings(flat, dim=dim, path=path, on_unknown="zero")))
    fell_back, zero = [], []
    for i in missing:
        found = next((vectors[t] for t in alternatives[i] if vectors[t].any()), None)
        if found is None:
            zero.append(names[i])
        else:
            out[i] = found
            fell_back.append(names[i])
    warnings.warn(
        f"{len(fell_back)} class name(s) have no GloVe word and took a WordNet synonym's or hypernym's vector "
        f"(e.g. {fell_back[:3]}); {len(zero)} stay zero vectors {zero[:5]}."
    )
    return out


def _default_synset(name):
    """`<name>.n.01` (spaces as underscores), as the official code's fallback, or an error naming the class."""
    from keras_hier.knowledge import wordnet

    candidate = str(name).strip().lower().replace(" ", "_") + ".n.01"
    try:
        wordnet.as_synsets([candidate])
    except ValueError:
        raise ValueError(
            f"No WordNet synset for class {name!r} (tried {candidate!r}): pass target_synsets={{{name!r}: "
            "'<synset or WordNet id>'}, or None for a class without one."
        ) from None
    return candidate


def _as_synsets(synsets, names):
    from keras_hier.knowledge import wordnet

    out = []
    for s, name in zip(synsets, names):
        if s is None:
            out.append(None)
            continue
        try:
            out.append(wordnet.as_synsets([s])[0])
        except ValueError as e:
            raise ValueError(f"Class {name!r}: {e}") from None
    return out
