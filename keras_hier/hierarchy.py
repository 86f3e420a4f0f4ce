"""`Hierarchy`: a rooted tree or DAG over class names, the type every method in keras_hier shares."""

import collections
import json
import os

import numpy as np

from keras_hier._io import write_text_atomic


class Hierarchy:
    """A rooted tree or DAG over class names whose leaves are a dataset's classes.

    Leaves are kept in the user's label order: label `i` is `hierarchy.leaves[i]`, so no caller ever
    reorders labels to match a tree. Internal nodes are super-classes. With `internal_classes=True` a class
    may also have children (ImageNet-21K labels images "dog" and "chihuahua" alike); `leaves` then lists
    the classes, some of which are internal, and `is_class` tells a class from a super-class. Nodes are
    strings; an optional `names` mapping gives each node a human-readable name (WordNet lemmas, for example).

    Depth is counted in edges from the root (the root has depth 0). In a DAG a node may have several
    parents; its depth is the length of its shortest path from the root, and `path(node)` is its
    canonical route: the shortest one, taking earlier-listed parents first on ties. `paths(...)` gives
    every route.

    A *level* is the cut of the hierarchy at a depth: `level(d)` lists the nodes at depth `d` on the
    leaves' canonical paths, plus the leaves shallower than `d`, which stand for themselves further down.
    `labels_at_level(d)[i]` is the index in `level(d)` of leaf `i`'s node at that level, so
    `labels_at_level(d)[y]` turns leaf labels `y` into super-class labels.

    Construct it with `from_parents`, `from_nested`, `from_wordnet` or `from_json`. Invalid input raises
    `ValueError` naming the culprit: an empty hierarchy, a cycle, a duplicate class, an unknown parent,
    several roots where one is required, or a label that is not a leaf.

    Args:
        parents: dict mapping every non-root node to the list of its parents (one parent per node for
            a tree). The root is the one node that has no parents.
        leaves: optional sequence of the classes in label order. Defaults to the childless nodes in the
            order they first appear in `parents`.
        root: optional name of the root. If it is not a node yet, the top-level nodes are put under a
            new root of that name; otherwise it must be the only node without a parent.
        names: optional dict mapping nodes to human-readable names.
        internal_classes: allow classes that have children. Off by default, where a class with children is
            an error: HierNet and the level cuts assume classes at the leaves.

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "vehicle": ["car"]}})
    >>> h.leaves
    ('cat', 'dog', 'car')
    >>> h.ancestors("dog")
    ('root', 'animal')
    >>> h.labels_at_level(1).tolist()
    [0, 0, 1]
    """

    def __init__(self, parents, leaves=None, root=None, names=None, internal_classes=False):
        if not isinstance(parents, dict):
            raise ValueError(
                f"`parents` must be a dict mapping each node to its parents; got {type(parents).__name__}."
            )
        parents = {_check_name(c): _parent_list(c, p) for c, p in parents.items()}
        mentioned = list(parents)
        for c, ps in parents.items():
            mentioned.extend(ps)
        mentioned = list(dict.fromkeys(mentioned))
        if not mentioned:
            raise ValueError("Empty hierarchy: no classes were given.")

        tops = [n for n in mentioned if not parents.get(n)]
        if not tops:  # Every node has a parent: there is a cycle, and the error names it.
            _check_acyclic(None, _children_of(parents, mentioned), mentioned)
        if root is not None:
            root = _check_name(root)
            if root in parents and parents[root]:
                raise ValueError(f"The root {root!r} has parents {parents[root]}: a root can have none.")
            if root in mentioned:
                unknown = [n for n in tops if n != root]
                if unknown:
                    users = {n: [c for c, ps in parents.items() if n in ps] for n in unknown}
                    detail = ", ".join(f"{n!r} (parent of {users[n]})" for n in unknown)
                    raise ValueError(
                        f"Unknown parent(s) {detail}: not a class of the hierarchy nor its root {root!r}. "
                        "Add them with their own parents, or fix the spelling."
                    )
            else:
                for n in tops:
                    parents[n] = [root]
                mentioned.insert(0, root)
        elif len(tops) != 1:
            raise ValueError(
                f"Several roots {tops}: a hierarchy needs exactly one. Pass `root=NAME` to put them under one "
                "new root, or give the missing parents."
            )
        else:
            root = tops[0]
        parents.pop(root, None)

        children = _children_of(parents, mentioned)
        _check_acyclic(root, children, mentioned)

        if leaves is None:
            leaves = [n for n in mentioned if not children[n]]
        else:
            leaves = [_check_name(n) for n in leaves]
            seen = set()
            for n in leaves:
                if n in seen:
                    raise ValueError(f"Duplicate class {n!r} in `leaves`: each label needs its own leaf.")
                seen.add(n)
                if n not in children:
                    raise ValueError(f"Class {n!r} in `leaves` has no node in the hierarchy.")
                if children[n] and not internal_classes:
                    raise ValueError(
                        f"Class {n!r} in `leaves` has children {children[n][:5]}: classes must be leaves "
                        "(pass `internal_classes=True` for a hierarchy whose super-classes have images too)."
                    )
            orphan = [n for n in mentioned if not children[n] and n not in seen]
            if orphan:
                raise ValueError(
                    f"Node(s) {orphan[:5]} have no children but are not in `leaves`: every leaf must be a class."
                )
        if not leaves:
            raise ValueError("Empty hierarchy: no classes were given.")

        self._root = root
        self._parents = {n: tuple(parents.get(n, ())) for n in mentioned}
        self._children = {n: tuple(cs) for n, cs in children.items()}
        self._leaves = tuple(leaves)
        self._leaf_index = {n: i for i, n in enumerate(self._leaves)}
        self._internal_classes = bool(internal_classes)
        self._names = {}
        for n, v in (names or {}).items():
            if n not in self._children:
                raise ValueError(f"`names` has an entry for {n!r}, which is not a node of the hierarchy.")
            self._names[n] = str(v)
        self._compute_paths()

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_parents(cls, parents, leaves=None, root=None, names=None, internal_classes=False):
        """Builds a hierarchy from a `{child: parent}` (tree) or `{child: [parents]}` (DAG) mapping.

        Args:
            parents: dict mapping each non-root node to its parent or list of parents.
            leaves: optional classes in label order (default: childless nodes in order of appearance).
            root: optional root name; a new root of that name joins several top-level nodes.
            names: optional dict of human-readable node names.
            internal_classes: allow classes with children (see the class docstring).

        Example:
        >>> Hierarchy.from_parents({"cat": "animal", "dog": "animal", "animal": "root"}).leaves
        ('cat', 'dog')
        """
        return cls(parents, leaves=leaves, root=root, names=names, internal_classes=internal_classes)

    @classmethod
    def from_nested(cls, nested, leaves=None, root=None, names=None):
        """Builds a tree from nested dicts and lists: `{"root": {"animal": ["cat", "dog"], "car": None}}`.

        A dict maps node names to their subtrees; a subtree is a dict, a list of leaf names or subtrees,
        or `None` / `[]` / `{}` for a leaf. A name that appears twice is an error (use `from_parents`
        for DAGs).

        Args:
            nested: the nested structure. One top-level key is the root; several need `root=`.
            leaves: optional classes in label order (default: the order in which leaves appear).
            root: optional root name joining several top-level keys.
            names: optional dict of human-readable node names.

        Example:
        >>> Hierarchy.from_nested({"all": {"shoes": ["sneaker", "boot"], "bag": None}}).leaves
        ('sneaker', 'boot', 'bag')
        """
        parents = {}
        tops = []

        def entries(sub, parent):
            """The `(name, subtree)` pairs directly under `parent` in `sub`, in order."""
            if sub is None:
                return
            if isinstance(sub, dict):
                yield from sub.items()
            elif isinstance(sub, (list, tuple)):
                for item in sub:
                    if isinstance(item, dict):
                        yield from item.items()
                    else:
                        yield item, None
            else:
                raise ValueError(
                    f"Subtree of {parent!r} must be a dict, a list or None; got {type(sub).__name__} {sub!r}."
                )

        if not isinstance(nested, dict):
            raise ValueError(f"`nested` must be a dict with the root as its key; got {type(nested).__name__}.")
        # Depth first, in the order written, with an explicit stack (no recursion limit on the depth).
        stack = [(entries(nested, None), None)]
        while stack:
            found = next(stack[-1][0], None)
            if found is None:
                stack.pop()
                continue
            parent = stack[-1][1]
            node = _check_name(found[0])
            if node in parents or node in tops:
                first = parents.get(node, None)
                raise ValueError(
                    f"Duplicate class {node!r} in the nested hierarchy: it appears under {first!r} and "
                    f"{parent!r}. Names must be unique in a tree; use Hierarchy.from_parents for a DAG."
                )
            if parent is None:
                tops.append(node)
            else:
                parents[node] = parent
            stack.append((entries(found[1], node), node))
        if not tops:
            raise ValueError("Empty hierarchy: no classes were given.")
        if len(tops) > 1 and root is None:
            raise ValueError(
                f"Several roots {tops}: a hierarchy needs exactly one. Pass `root=NAME` to put them under "
                "one new root, or nest them under a single key."
            )
        if len(tops) == 1 and not parents:
            # A single node: it is both the root and the only class.
            return cls({tops[0]: [root]} if root else {tops[0]: []}, leaves=leaves, names=names)
        for t in tops:
            parents.setdefault(t, [])
        return cls(parents, leaves=leaves, root=root, names=names)

    @classmethod
    def from_wordnet(cls, wnids_or_synsets, class_names=None, tree=False, compress=True, internal_classes=False):
        """Builds the WordNet hypernym hierarchy above the given classes.

        Nodes are WordNet ids (`n02084071`), named by their first lemma. The classes are the leaves in the
        given order. Both hypernym and instance-hypernym links are followed up to `entity.n.01`.

        Args:
            wnids_or_synsets: WordNet ids (`"n02084071"`), synset names (`"dog.n.01"`) or nltk synsets.
            class_names: optional display names of the classes (default: their first lemma).
            tree: keep only each node's canonical (shortest) hypernym path, giving a tree instead of a DAG.
            compress: remove internal nodes with a single child (and a root with a single internal child),
                which keeps the branching structure but drops long chains. Classes are always kept.
            internal_classes: allow a class that is a hypernym of another class (dog and chihuahua);
                otherwise that is an error.

        Example:
        >>> h = Hierarchy.from_wordnet(["dog.n.01", "cat.n.01", "car.n.01"], tree=True)
        >>> [h.name(n) for n in h.path("n02084071")]
        ['whole', 'animal', 'dog']
        """
        from keras_hier.knowledge import wordnet

        synsets = wordnet.as_synsets(wnids_or_synsets)
        classes = [wordnet.wnid(s) for s in synsets]
        dup = [w for w, c in collections.Counter(classes).items() if c > 1]
        if dup:
            raise ValueError(f"Duplicate class {dup[0]!r} ({wordnet.synset_from_wnid(dup[0]).name()}).")
        parents, names = {}, {}
        todo = list(synsets)
        while todo:
            s = todo.pop()
            w = wordnet.wnid(s)
            if w in names:
                continue
            names[w] = s.lemma_names()[0].replace("_", " ")
            # nltk lists a synset's hypernyms in the order of a set (it varies with PYTHONHASHSEED): sorted, the
            # parents' order, and so the tree's canonical paths, are the same in every process.
            hyper = sorted(s.hypernyms() + s.instance_hypernyms(), key=wordnet.wnid)
            parents[w] = [wordnet.wnid(h) for h in hyper]
            todo.extend(hyper)
        if class_names is not None:
            class_names = [str(n) for n in class_names]
            if len(class_names) != len(classes):
                raise ValueError(f"Got {len(class_names)} class_names for {len(classes)} classes.")
            names.update(zip(classes, class_names))
        class_set = set(classes)
        inner = {p for ps in parents.values() for p in ps} & class_set
        if inner and not internal_classes:
            w = sorted(inner)[0]
            raise ValueError(
                f"Class {w!r} ({names[w]}) is a hypernym of another class: WordNet classes must be leaves "
                "(pass `internal_classes=True` to keep both)."
            )
        order = classes + [w for w in names if w not in class_set]
        parents = {w: parents[w] for w in order}
        h = cls(parents, leaves=classes, names=names, internal_classes=internal_classes)
        if tree:
            h = h.to_tree()
        if compress:
            h = h.compress()
        return h

    @classmethod
    def from_json(cls, text_or_path):
        """Reads a hierarchy from a JSON string or a file path, in either of two forms (docs/hierarchy.md).

        - The form `to_json` writes: `{"root": "all", "parents": {"cat": ["animal"], "animal": ["all"], ...},
          "leaves": [...], "names": {...}}` (`leaves`, `names` and `internal_classes` optional). Trees and DAGs.
        - The nested form `from_nested` takes, the easier one to write by hand:
          `{"all": {"animal": ["cat", "dog"], "car": null}}`, or, to fix the label order or give names,
          `{"nested": {...}, "leaves": [...], "names": {...}}`. Trees only.

        Args:
            text_or_path: the JSON text, or the path of a file holding it.

        Example:
        >>> Hierarchy.from_json('{"all": {"animal": ["cat", "dog"], "car": null}}').leaves
        ('cat', 'dog', 'car')
        """
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            if not os.path.exists(text):
                raise ValueError(f"{text!r} is neither JSON text nor an existing file.")
            with open(text, encoding="utf-8") as f:
                text = f.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"Invalid hierarchy JSON: {e}") from e
        except RecursionError:
            raise ValueError("Invalid hierarchy JSON: nested too deeply for Python's parser (a hierarchy's JSON is "
                             "three levels deep: {\"parents\": {child: [parents]}}).") from None
        schemas = ('Hierarchy JSON is either {"root": name, "parents": {child: [parents]}} (as to_json writes it) '
                   'or the nested form {root: {group: [classes], ...}} (see docs/hierarchy.md)')
        if not isinstance(data, dict) or not data:
            raise ValueError(f"{schemas}; got {json.dumps(data)[:80]}.")
        if "parents" not in data:
            if "nested" not in data and (isinstance(data.get("root"), str)
                                         or set(data) & {"leaves", "names", "internal_classes"}):
                raise ValueError(f'{schemas}: "parents" (or "nested") is missing.')
            return cls._from_nested_json(data)
        expected = {"root": (str, "a string"), "parents": (dict, "an object {child: [parents]}"),
                    "leaves": (list, "a list of class names"), "names": (dict, "an object {node: name}"),
                    "internal_classes": (bool, "true or false")}
        if "root" not in data:
            raise ValueError(f'{schemas}: "root" is missing.')
        cls._check_json_types(data, expected)
        parents = dict(data["parents"])
        parents.setdefault(data["root"], [])
        return cls(
            parents,
            leaves=data.get("leaves"),
            root=data["root"],
            names=data.get("names"),
            internal_classes=data.get("internal_classes", False),
        )

    @classmethod
    def _from_nested_json(cls, data):
        """The nested form of `from_json`: the tree itself, or `{"nested": tree, "leaves": ..., "names": ...}`."""
        if "nested" in data:
            unknown = sorted(set(data) - {"nested", "leaves", "names", "root"})
            if unknown:
                raise ValueError(f'Hierarchy JSON with "nested" takes "leaves", "names" and "root" beside it; got '
                                 f"{unknown}.")
            cls._check_json_types(data, {"nested": (dict, "an object {root: subtree}"),
                                         "leaves": (list, "a list of class names"),
                                         "names": (dict, "an object {node: name}"), "root": (str, "a string")})
            return cls.from_nested(data["nested"], leaves=data.get("leaves"), root=data.get("root"),
                                   names=data.get("names"))
        return cls.from_nested(data)

    @staticmethod
    def _check_json_types(data, expected):
        for key, (kind, what) in expected.items():
            if key in data and data[key] is not None and not isinstance(data[key], kind):
                raise ValueError(f'Hierarchy JSON: "{key}" must be {what}; got {type(data[key]).__name__} '
                                 f"{json.dumps(data[key])[:80]}.")

    def with_leaves(self, leaves):
        """The same hierarchy with its classes in the label order `leaves` (e.g. the sorted class folders of an
        image folder).

        Args:
            leaves: every class of this hierarchy, once, in the new label order.

        Raises:
            ValueError: naming the classes missing from `leaves` and the names in it that are not classes.

        Example:
        >>> Hierarchy.from_nested({"r": {"g": ["b", "a"], "c": None}}).with_leaves(["a", "b", "c"]).leaves
        ('a', 'b', 'c')
        """
        leaves = [str(leaf) for leaf in leaves]
        missing = [c for c in self._leaves if c not in set(leaves)]
        extra = [c for c in leaves if c not in self._leaf_index]
        if missing or extra or len(set(leaves)) != len(leaves):
            raise ValueError(
                "The classes do not match the hierarchy's: "
                + "; ".join(part for part in (f"not in the hierarchy: {extra[:10]}" if extra else "",
                                              f"in the hierarchy but not given: {missing[:10]}" if missing else "",
                                              "a class given twice" if len(set(leaves)) != len(leaves) else "")
                            if part)
                + ". Name the hierarchy's classes exactly as the data does.")
        return type(self)({n: list(ps) for n, ps in self._parents.items() if n != self._root}, leaves=leaves,
                          root=self._root, names=dict(self._names), internal_classes=self._internal_classes)

    def to_json(self, path=None, indent=None):
        """Returns the hierarchy as JSON text; with `path`, also writes it there atomically.

        Args:
            path: optional file to write (written to a temporary file first, then moved into place).
            indent: optional JSON indentation.
        """
        data = {
            "root": self._root,
            "leaves": list(self._leaves),
            "parents": {n: list(ps) for n, ps in self._parents.items() if n != self._root},
            "names": dict(self._names),
        }
        if self._internal_classes:
            data["internal_classes"] = True
        text = json.dumps(data, indent=indent)
        if path is not None:
            write_text_atomic(path, text)
        return text

    # ------------------------------------------------------------------ structure

    @property
    def root(self):
        """The root node."""
        return self._root

    @property
    def leaves(self):
        """The classes in label order: label `i` is `leaves[i]` (with `internal_classes`, some have children)."""
        return self._leaves

    @property
    def internal_classes(self):
        """Whether classes may have children (the `internal_classes` argument)."""
        return self._internal_classes

    @property
    def has_internal_classes(self):
        """Whether some class has children."""
        return any(self._children[n] for n in self._leaves)

    @property
    def nodes(self):
        """All nodes, by depth, in the order they were given within a depth (the root first)."""
        return self._nodes

    @property
    def num_classes(self):
        """The number of leaves (classes)."""
        return len(self._leaves)

    @property
    def max_depth(self):
        """The largest depth of a leaf (0 for a hierarchy that is a single class)."""
        return max(self._depth[n] for n in self._leaves)

    @property
    def is_tree(self):
        """Whether every node but the root has exactly one parent."""
        return all(len(ps) == 1 for n, ps in self._parents.items() if n != self._root)

    def __len__(self):
        return len(self._nodes)

    def __contains__(self, node):
        return node in self._children

    def __eq__(self, other):
        return (
            isinstance(other, Hierarchy)
            and self._root == other._root
            and self._leaves == other._leaves
            and self._parents == other._parents
            and self._names == other._names
            and self._internal_classes == other._internal_classes
        )

    def __repr__(self):
        kind = "tree" if self.is_tree else "DAG"
        return (
            f"Hierarchy({kind}, root={self._root!r}, classes={self.num_classes}, nodes={len(self)}, "
            f"max_depth={self.max_depth})"
        )

    def _check(self, node):
        if node not in self._children:
            raise ValueError(f"Unknown node {node!r}: it is not in this hierarchy.")
        return node

    def name(self, node):
        """The human-readable name of `node` (the node itself when no name was given)."""
        return self._names.get(self._check(node), node)

    @property
    def names(self):
        """Dict of the human-readable names given to nodes."""
        return dict(self._names)

    def label(self, leaf):
        """The label (index in `leaves`) of class `leaf`."""
        if leaf not in self._leaf_index:
            raise ValueError(f"{leaf!r} is not a class of this hierarchy.")
        return self._leaf_index[leaf]

    def is_class(self, node):
        """Whether `node` is a class (has a label)."""
        return self._check(node) in self._leaf_index

    def is_leaf(self, node):
        """Whether `node` is a class without children (every class, unless `internal_classes`)."""
        return self._check(node) in self._leaf_index and not self._children[node]

    def parents(self, node):
        """The parents of `node` as a tuple (empty for the root)."""
        return self._parents[self._check(node)]

    def children(self, node):
        """The children of `node` as a tuple, in the order given."""
        return self._children[self._check(node)]

    def depth(self, node):
        """The number of edges on the shortest path from the root to `node` (0 for the root)."""
        return self._depth[self._check(node)]

    def path(self, node):
        """The canonical root-to-`node` path as a tuple (shortest; earlier parents first on ties)."""
        return self._path(self._check(node))

    def _path(self, node):
        path = []
        while node is not None:
            path.append(node)
            node = self._canonical_parent[node]
        return tuple(reversed(path))

    def ancestors(self, node):
        """All ancestors of `node`, root first, ordered by depth (for a tree: its path without itself)."""
        self._check(node)
        if self.is_tree:
            return self._path(node)[:-1]
        seen, todo = set(), list(self._parents[node])
        while todo:
            p = todo.pop()
            if p not in seen:
                seen.add(p)
                todo.extend(self._parents[p])
        return tuple(n for n in self._nodes if n in seen)

    def descendant_leaves(self, node):
        """Labels (leaf indices, ascending) of the classes under `node`; a class gives itself."""
        self._check(node)
        out, seen, todo = [], set(), [node]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in self._leaf_index:
                out.append(self._leaf_index[n])
            todo.extend(self._children[n])
        return sorted(out)

    def paths(self, node=None):
        """Every root-to-node path.

        Args:
            node: a node; if omitted, every root-to-leaf path for all classes in label order.

        Returns:
            A list of tuples. For a tree, `paths()[i]` is the path of label `i`.
        """
        if node is None:
            return [p for leaf in self._leaves for p in self.paths(leaf)]
        self._check(node)
        # Depth first over the parents (first parents first), with an explicit stack; each partial path is a linked
        # list (node, rest) so that a step costs O(1), and a path is built once it reaches the root.
        out, stack = [], [(node, None)]
        while stack:
            n, rest = stack.pop()
            chain = (n, rest)
            if n == self._root:
                path = []
                while chain is not None:
                    path.append(chain[0])
                    chain = chain[1]
                out.append(tuple(path))
            else:
                stack.extend((p, chain) for p in reversed(self._parents[n]))
        return out

    def level(self, depth):
        """The nodes of the cut at `depth`: nodes at that depth on the leaves' canonical paths, plus the
        leaves shallower than `depth`, ordered by their first label. `level(max_depth) == leaves`."""
        return self._level_cut(depth)[0]

    def labels_at_level(self, depth):
        """int32 array mapping each leaf label to the index of its node in `level(depth)`.

        Example: for leaves ("cat", "dog", "car") under ("animal", "vehicle"), `labels_at_level(1)` is
        `[0, 0, 1]`, and `labels_at_level(1)[y]` maps leaf labels `y` to super-class labels.
        """
        return self._level_cut(depth)[1].copy()

    def _level_cut(self, depth):
        if not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"`depth` must be a non-negative integer; got {depth!r}.")
        depth = int(depth)
        if depth not in self._cuts:
            picks = [path[min(depth, len(path) - 1)] for path in map(self._path, self._leaves)]
            nodes = tuple(dict.fromkeys(picks))
            index = {n: i for i, n in enumerate(nodes)}
            self._cuts[depth] = (nodes, np.array([index[n] for n in picks], dtype=np.int32))
        return self._cuts[depth]

    def render(self, max_children=None):
        """A text drawing of the hierarchy, one node a line, with names and labels.

        In a DAG a node with several parents is drawn with its subtree under the first parent met, and as one line
        marked "(shown above)" under the others, so the drawing has one line per edge at most (drawing every path
        would grow exponentially: a 40-step "ladder" has 2^40 paths).

        Args:
            max_children: optional limit of children shown per node (the rest are counted).
        """
        lines = []
        expanded = set()
        stack = [(self._root, "", True, True)]  # depth first with an explicit stack: no recursion limit
        while stack:
            node, prefix, last, top = stack.pop()
            if node is None:  # the "... more" line
                lines.append(prefix)
                continue
            label = f"  [{self._leaf_index[node]}]" if node in self._leaf_index else ""
            shown = self.name(node)
            if shown != node:
                shown = f"{shown} ({node})"
            if len(self._parents[node]) > 1:
                shown += f"  (also under {len(self._parents[node]) - 1} other)"
            again = node in expanded and bool(self._children[node])
            lines.append(("" if top else prefix + ("└── " if last else "├── ")) + shown + label +
                         ("  (shown above)" if again else ""))
            if again:
                continue
            expanded.add(node)
            kids = list(self._children[node])
            hidden = 0
            if max_children is not None and len(kids) > max_children:
                hidden, kids = len(kids) - max_children, kids[:max_children]
            sub = "" if top else prefix + ("    " if last else "│   ")
            below = [(k, sub, i == len(kids) - 1 and not hidden, False) for i, k in enumerate(kids)]
            if hidden:
                below.append((None, sub + f"└── ... {hidden} more", True, False))
            stack.extend(reversed(below))
        return "\n".join(lines)

    # ------------------------------------------------------------------ transforms

    def to_tree(self):
        """A tree that keeps each node's canonical (shortest) path and drops its other parents."""
        parents = {n: [self._canonical_parent[n]] for n in self._nodes if n != self._root}
        used = set()
        for leaf in self._leaves:
            used.update(self._path(leaf))
        parents = {n: ps for n, ps in parents.items() if n in used}
        return Hierarchy(
            {self._root: [], **parents},
            leaves=self._leaves,
            names=self._kept_names(used),
            internal_classes=self._internal_classes,
        )

    def compress(self):
        """A hierarchy without single-child internal nodes: each is replaced by its only child. A root
        whose only child is internal is dropped too, so the child becomes the root."""
        parents = {n: list(ps) for n, ps in self._parents.items()}
        children = {n: list(cs) for n, cs in self._children.items()}
        root = self._root
        changed = True
        while changed:  # Splicing can merge a node's children (in a DAG), so repeat until nothing changes.
            changed = False
            for n in self._nodes:
                if n not in parents or n in self._leaf_index or len(children[n]) != 1:
                    continue
                (child,) = children[n]
                if n == root:
                    if child in self._leaf_index:
                        continue
                    root = child
                    parents[child] = [p for p in parents[child] if p != n]
                else:
                    new = []
                    for p in parents[child]:
                        new.extend(parents[n] if p == n else [p])
                    parents[child] = list(dict.fromkeys(new))
                    for p in parents[n]:
                        children[p] = list(dict.fromkeys(child if c == n else c for c in children[p]))
                del parents[n], children[n]
                changed = True
        keep = [n for n in self._nodes if n in parents]
        parents = {n: parents[n] for n in keep}
        return Hierarchy(
            parents, leaves=self._leaves, names=self._kept_names(keep), internal_classes=self._internal_classes
        )

    def _kept_names(self, nodes):
        return {n: self._names[n] for n in nodes if n in self._names}

    # ------------------------------------------------------------------ internals

    def _compute_paths(self):
        """Breadth-first from the root: depth, canonical path and node order."""
        self._depth = {self._root: 0}
        self._canonical_parent = {self._root: None}  # paths are read off these links: O(nodes) memory
        order = [self._root]
        queue = collections.deque([self._root])
        while queue:
            n = queue.popleft()
            for c in self._children[n]:
                if c not in self._depth:
                    # The first parent reached breadth-first is a shallowest one; among parents at the
                    # same depth, prefer the one listed first.
                    best = min(
                        (p for p in self._parents[c] if p in self._depth),
                        key=lambda p: (self._depth[p], self._parents[c].index(p)),
                    )
                    self._depth[c] = self._depth[best] + 1
                    self._canonical_parent[c] = best
                    order.append(c)
                    queue.append(c)
        self._nodes = tuple(order)
        self._cuts = {}


def _check_name(name):
    if not isinstance(name, str) or not name:
        raise ValueError(f"Node names must be non-empty strings; got {name!r}.")
    return name


def _parent_list(child, parent):
    if parent is None:
        return []
    if isinstance(parent, (str, list, tuple)):
        ps = [_check_name(parent)] if isinstance(parent, str) else [_check_name(p) for p in parent]
        if len(set(ps)) != len(ps):
            raise ValueError(f"Node {child!r} lists the same parent twice: {ps}.")
        if child in ps:
            raise ValueError(f"Cycle: {child!r} -> {child!r} (a node cannot be its own parent).")
        return ps
    raise ValueError(f"Parent of {child!r} must be a name or a list of names; got {parent!r}.")


def _children_of(parents, nodes):
    """The children lists of `nodes`, in the order the children were given."""
    children = {n: [] for n in nodes}
    for c, ps in parents.items():
        for p in ps:
            children[p].append(c)
    return children


def _check_acyclic(root, children, nodes):
    """Raises ValueError naming a cycle, or a node that the root (if given) does not reach."""
    state = {}
    reached = set()
    for start in ([root] if root is not None else []) + list(nodes):
        if start in state:
            continue
        stack = [(start, iter(children[start]))]
        state[start] = 1
        trail = [start]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                trail.pop()
            elif state.get(nxt) == 1:
                cycle = trail[trail.index(nxt) :] + [nxt]
                raise ValueError("Cycle: " + " -> ".join(repr(n) for n in reversed(cycle)) + " (child -> parent).")
            elif nxt not in state:
                state[nxt] = 1
                trail.append(nxt)
                stack.append((nxt, iter(children[nxt])))
        if start == root:
            reached = set(state)
    if root is None:
        return
    unreached = [n for n in nodes if n not in reached]
    if unreached:
        raise ValueError(f"Node(s) {unreached[:5]} are not reachable from the root {root!r}.")
