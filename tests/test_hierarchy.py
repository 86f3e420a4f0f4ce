"""Hierarchy: hand-computed small trees and DAGs, invalid input, and property-based tests over random trees."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_hier import Hierarchy

NESTED = {"root": {"animal": {"cat": None, "dog": None}, "vehicle": ["car", "truck"], "plant": None}}


@pytest.fixture
def tree():
    return Hierarchy.from_nested(NESTED)


def test_tree_structure(tree):
    assert tree.root == "root"
    assert tree.leaves == ("cat", "dog", "car", "truck", "plant")
    assert tree.num_classes == 5 and len(tree) == 8
    assert tree.is_tree and tree.max_depth == 2
    assert tree.parents("cat") == ("animal",) and tree.parents("root") == ()
    assert tree.children("root") == ("animal", "vehicle", "plant")
    assert tree.ancestors("truck") == ("root", "vehicle")
    assert tree.path("truck") == ("root", "vehicle", "truck")
    assert [tree.depth(n) for n in ("root", "animal", "dog", "plant")] == [0, 1, 2, 1]
    assert tree.label("car") == 2 and tree.is_leaf("car") and not tree.is_leaf("animal")
    assert tree.descendant_leaves("vehicle") == [2, 3]
    assert tree.descendant_leaves("plant") == [4]
    assert tree.nodes[:4] == ("root", "animal", "vehicle", "plant")


def test_levels_hand_computed(tree):
    assert tree.level(0) == ("root",)
    assert tree.labels_at_level(0).tolist() == [0, 0, 0, 0, 0]
    assert tree.level(1) == ("animal", "vehicle", "plant")
    assert tree.labels_at_level(1).tolist() == [0, 0, 1, 1, 2]
    # "plant" is a leaf at depth 1: it stands for itself at depth 2.
    assert tree.level(2) == tree.leaves
    assert tree.labels_at_level(2).tolist() == [0, 1, 2, 3, 4]
    assert tree.labels_at_level(7).tolist() == [0, 1, 2, 3, 4]
    y = np.array([3, 0, 4, 1])
    assert tree.labels_at_level(1)[y].tolist() == [1, 0, 2, 0]
    assert tree.labels_at_level(1).dtype == np.int32
    with pytest.raises(ValueError, match="non-negative"):
        tree.level(-1)


def test_user_label_order_is_kept():
    h = Hierarchy.from_parents(
        {"cat": "animal", "car": "vehicle", "dog": "animal", "animal": "root", "vehicle": "root"},
        leaves=["dog", "car", "cat"],
    )
    assert h.leaves == ("dog", "car", "cat")
    assert h.labels_at_level(1).tolist() == [0, 1, 0]
    assert h.level(1) == ("animal", "vehicle")  # ordered by first label
    assert h.paths() == [("root", "animal", "dog"), ("root", "vehicle", "car"), ("root", "animal", "cat")]


def test_dag_paths_depth_and_ancestors():
    # "bat" is both a mammal and a flyer; "flyer" hangs deeper than "mammal".
    h = Hierarchy.from_parents(
        {
            "animal": [],
            "mammal": ["animal"],
            "winged": ["animal"],
            "flyer": ["winged"],
            "bat": ["flyer", "mammal"],
            "cow": ["mammal"],
            "crow": ["flyer"],
        }
    )
    assert not h.is_tree
    assert h.leaves == ("bat", "cow", "crow")
    assert h.depth("bat") == 2  # shortest: animal -> mammal -> bat
    assert h.path("bat") == ("animal", "mammal", "bat")
    assert sorted(h.paths("bat")) == [("animal", "mammal", "bat"), ("animal", "winged", "flyer", "bat")]
    assert len(h.paths()) == 4
    assert h.ancestors("bat") == ("animal", "mammal", "winged", "flyer")
    assert h.descendant_leaves("flyer") == [0, 2]
    t = h.to_tree()
    assert t.is_tree and t.parents("bat") == ("mammal",)
    assert t.leaves == h.leaves


def test_dag_tie_prefers_first_listed_parent():
    h = Hierarchy.from_parents({"a": "r", "b": "r", "x": ["b", "a"]})
    assert h.path("x") == ("r", "b", "x")


def test_compress_removes_chains():
    h = Hierarchy.from_parents({"top": "r", "mid": "top", "x": "mid", "y": "mid", "z": "r"})
    c = h.compress()
    assert c.root == "r" and c.parents("x") == ("mid",) and c.parents("mid") == ("r",)
    assert "top" not in c
    # A root with a single internal child is dropped as well.
    c2 = Hierarchy.from_parents({"a": "r", "x": "a", "y": "a"}).compress()
    assert c2.root == "a" and c2.leaves == ("x", "y")
    # In a DAG two chains can merge into one child: "a" ends with a single child and goes too.
    c3 = Hierarchy.from_parents({"a": "r", "b": "a", "c": "a", "x": ["b", "c"], "y": "r"}).compress()
    assert c3.parents("x") == ("r",) and set(c3.nodes) == {"r", "x", "y"} and c3.is_tree


def test_json_round_trip_and_atomic_file(tmp_path, tree):
    named = Hierarchy.from_nested(NESTED, names={"cat": "Cat"})
    again = Hierarchy.from_json(named.to_json())
    assert again == named and again.name("cat") == "Cat" and again.name("dog") == "dog"
    path = tmp_path / "h.json"
    tree.to_json(path, indent=2)
    assert Hierarchy.from_json(path) == tree
    assert [p.name for p in tmp_path.iterdir()] == ["h.json"]
    assert json.loads(path.read_text())["root"] == "root"
    with pytest.raises(ValueError, match="neither JSON"):
        Hierarchy.from_json(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r'"parents" \(or "nested"\) is missing'):
        Hierarchy.from_json('{"leaves": []}')
    with pytest.raises(ValueError, match=r'either \{"root": name, "parents".*or the nested form'):
        Hierarchy.from_json('{"root": "r"}')


def test_from_json_reads_the_nested_form_people_write_by_hand(tmp_path):
    path = tmp_path / "tree.json"
    path.write_text(json.dumps({"clothing": {"tops": ["shirt", "pullover"], "shoes": {"sneaker": None, "boot": []},
                                             "bag": None}}))
    tree = Hierarchy.from_json(path)
    assert tree.root == "clothing" and tree.leaves == ("shirt", "pullover", "sneaker", "boot", "bag")
    assert tree.parents("boot") == ("shoes",) and tree.max_depth == 2
    # Wrapped, to fix the label order, name nodes or join several top-level nodes under a new root.
    wrapped = Hierarchy.from_json(json.dumps({"nested": {"tops": ["shirt", "pullover"], "bag": None}, "root": "all",
                                              "leaves": ["bag", "pullover", "shirt"], "names": {"bag": "Bag"}}))
    assert wrapped.leaves == ("bag", "pullover", "shirt") and wrapped.root == "all" and wrapped.name("bag") == "Bag"
    assert Hierarchy.from_json(wrapped.to_json()) == wrapped
    with pytest.raises(ValueError, match="appears twice|Duplicate|duplicate"):
        Hierarchy.from_json('{"r": {"a": ["x"], "b": ["x"]}}')
    with pytest.raises(ValueError, match='"leaves", "names" and "root" beside it'):
        Hierarchy.from_json('{"nested": {"r": ["a", "b"]}, "parents_of": {}}')
    with pytest.raises(ValueError, match='"nested" must be an object'):
        Hierarchy.from_json('{"nested": ["a", "b"]}')


def test_internal_classes():
    parents = {"animal": "root", "dog": "animal", "chihuahua": "dog", "cat": "animal"}
    with pytest.raises(ValueError, match="internal_classes=True"):
        Hierarchy.from_parents(parents, leaves=["dog", "chihuahua", "cat"])
    h = Hierarchy.from_parents(parents, leaves=["dog", "chihuahua", "cat"], internal_classes=True)
    assert h.internal_classes and h.has_internal_classes and h.num_classes == 3
    assert h.is_class("dog") and not h.is_leaf("dog") and h.is_leaf("chihuahua") and not h.is_class("animal")
    assert h.label("dog") == 0 and h.descendant_leaves("dog") == [0, 1] and h.descendant_leaves("animal") == [0, 1, 2]
    assert h.max_depth == 3 and h.level(2) == ("dog", "cat") and h.labels_at_level(3).tolist() == [0, 1, 2]
    # Every childless node must still be a class; compress keeps single-child classes.
    with pytest.raises(ValueError, match="no children but are not in `leaves`"):
        Hierarchy.from_parents(parents, leaves=["dog", "chihuahua"], internal_classes=True)
    assert "dog" in h.compress() and h.to_tree().internal_classes
    again = Hierarchy.from_json(h.to_json())
    assert again == h and again.internal_classes
    assert not Hierarchy.from_json(Hierarchy.from_parents(parents).to_json()).internal_classes


def test_from_wordnet_internal_classes():
    with pytest.raises(ValueError, match="hypernym of another class.*internal_classes"):
        Hierarchy.from_wordnet(["dog.n.01", "chihuahua.n.03"])
    h = Hierarchy.from_wordnet(["dog.n.01", "chihuahua.n.03", "cat.n.01"], internal_classes=True)
    dog, chihuahua = h.leaves[:2]
    assert dog in h.ancestors(chihuahua) and h.is_class(dog) and not h.is_leaf(dog)


def test_render(tree):
    text = Hierarchy.from_nested(NESTED, names={"cat": "Cat"}).render()
    lines = text.splitlines()
    assert lines[0] == "root"
    assert lines[1] == "├── animal"
    assert lines[2] == "│   ├── Cat (cat)  [0]"
    assert lines[-1] == "└── plant  [4]"
    assert "... 2 more" in tree.render(max_children=1)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Hierarchy.from_parents({}), "Empty hierarchy"),
        (lambda: Hierarchy.from_nested({}), "Empty hierarchy"),
        (lambda: Hierarchy.from_parents({"a": "b", "b": "c", "c": "a", "x": "r"}), "Cycle"),
        (lambda: Hierarchy.from_parents({"a": "a"}), "Cycle"),
        (lambda: Hierarchy.from_parents({"a": "b", "b": "a"}), "Cycle: 'a' -> 'b' -> 'a'|Cycle: 'b' -> 'a' -> 'b'"),
        (lambda: Hierarchy.from_parents({"a": "r", "b": "r", "c": "s"}), r"Several roots \['r', 's'\]"),
        (lambda: Hierarchy.from_nested({"r": ["a"], "s": ["b"]}), "Several roots"),
        (lambda: Hierarchy.from_nested({"r": {"a": ["x"], "b": ["x"]}}), "Duplicate class 'x'"),
        (lambda: Hierarchy.from_parents({"a": "r", "b": "r"}, leaves=["a", "a", "b"]), "Duplicate class 'a'"),
        (lambda: Hierarchy.from_parents({"a": "r"}, leaves=["a", "zebra"]), "'zebra'.*no node"),
        (lambda: Hierarchy.from_parents({"a": "r", "b": "r"}, leaves=["a"]), r"\['b'\].*not in `leaves`"),
        (lambda: Hierarchy.from_parents({"a": "r", "b": "a"}, leaves=["a", "b"]), "'a'.*has children"),
        (lambda: Hierarchy.from_parents({"a": "r", "b": "typo"}, root="r"), "Unknown parent.*'typo'"),
        (lambda: Hierarchy.from_parents({"a": ["r", "r"]}), "same parent twice"),
        (lambda: Hierarchy.from_parents({"a": 3}), "name or a list"),
        (lambda: Hierarchy.from_parents({"": "r"}), "non-empty strings"),
        (lambda: Hierarchy.from_parents([("a", "r")]), "must be a dict"),
        (lambda: Hierarchy.from_nested({"r": 5}), "must be a dict, a list or None"),
        (lambda: Hierarchy.from_parents({"a": "r"}, names={"zz": "Z"}), "'zz', which is not a node"),
    ],
)
def test_invalid_input_names_the_culprit(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_cycle_message_shows_the_cycle():
    with pytest.raises(ValueError) as e:
        Hierarchy.from_parents({"x": "r", "a": ["x", "c"], "b": "a", "c": "b"})
    assert "'a'" in str(e.value) and "'b'" in str(e.value) and "'c'" in str(e.value)


def test_root_joins_several_tops():
    h = Hierarchy.from_parents({"a": "r", "b": "s"}, root="all")
    assert h.root == "all" and h.children("all") == ("r", "s") and h.max_depth == 2
    h = Hierarchy.from_nested({"r": ["a"], "s": ["b"]}, root="all")
    assert h.labels_at_level(1).tolist() == [0, 1]


def test_unknown_node_queries(tree):
    for query in (tree.parents, tree.children, tree.depth, tree.path, tree.ancestors, tree.name):
        with pytest.raises(ValueError, match="Unknown node 'nope'"):
            query("nope")
    with pytest.raises(ValueError, match="not a class"):
        tree.label("animal")


def test_single_class_hierarchy():
    h = Hierarchy.from_nested({"only": None})
    assert h.root == "only" and h.leaves == ("only",) and h.max_depth == 0
    assert h.labels_at_level(3).tolist() == [0]


# ----------------------------------------------------------------------------- property-based


@st.composite
def random_trees(draw, dag=False):
    """Node i > 0 gets a parent among nodes < i (so no cycles); optional extra parents make a DAG."""
    n = draw(st.integers(min_value=2, max_value=40))
    parents = {}
    for i in range(1, n):
        first = draw(st.integers(min_value=0, max_value=i - 1))
        ps = [first]
        if dag and i > 1 and draw(st.booleans()):
            extra = draw(st.integers(min_value=0, max_value=i - 1))
            if extra != first:
                ps.append(extra)
        parents[f"n{i}"] = [f"n{p}" for p in ps]
    parents["n0"] = []
    has_child = {p for ps in parents.values() for p in ps}
    leaves = [n for n in parents if n not in has_child]
    order = draw(st.permutations(leaves))
    return parents, list(order)


@settings(max_examples=60, deadline=None)
@given(random_trees())
def test_random_tree_properties(data):
    parents, leaves = data
    h = Hierarchy.from_parents(parents, leaves=leaves)
    assert h.root == "n0" and h.leaves == tuple(leaves) and h.is_tree
    for label, leaf in enumerate(h.leaves):
        path = h.path(leaf)
        assert path[0] == "n0" and path[-1] == leaf
        assert all(h.parents(b) == (a,) for a, b in zip(path, path[1:]))
        assert h.depth(leaf) == len(path) - 1
        assert h.ancestors(leaf) == path[:-1]
        assert h.paths(leaf) == [path]
        assert label in h.descendant_leaves(path[min(1, len(path) - 1)])
    assert h.descendant_leaves(h.root) == list(range(len(leaves)))
    np.testing.assert_array_equal(h.labels_at_level(h.max_depth), np.arange(len(leaves)))
    for d in range(h.max_depth + 1):
        level, labels = h.level(d), h.labels_at_level(d)
        for i, leaf in enumerate(h.leaves):
            path = h.path(leaf)
            assert level[labels[i]] == path[min(d, len(path) - 1)]
        # Two classes share a group at depth d exactly when their paths agree down to d.
        for i in range(len(leaves)):
            for j in range(len(leaves)):
                pi, pj = h.path(h.leaves[i]), h.path(h.leaves[j])
                same = pi[min(d, len(pi) - 1)] == pj[min(d, len(pj) - 1)]
                assert (labels[i] == labels[j]) == same
    assert Hierarchy.from_json(h.to_json()) == h


@settings(max_examples=60, deadline=None)
@given(random_trees(dag=True))
def test_random_dag_properties(data):
    parents, leaves = data
    h = Hierarchy.from_parents(parents, leaves=leaves)
    # Path counts by dynamic programming over the construction order (parents have smaller indices).
    count = {"n0": 1}
    for i in range(1, len(parents)):
        count[f"n{i}"] = sum(count[p] for p in parents[f"n{i}"])
    assert len(h.paths()) == sum(count[leaf] for leaf in leaves)
    for leaf in leaves:
        all_paths = h.paths(leaf)
        assert len(set(all_paths)) == len(all_paths) == count[leaf]
        assert h.depth(leaf) == min(len(p) for p in all_paths) - 1
        assert h.path(leaf) in all_paths
        assert set(h.ancestors(leaf)) == {n for p in all_paths for n in p[:-1]}
    assert Hierarchy.from_json(h.to_json()) == h
    t = h.to_tree()
    assert t.is_tree and all(t.path(leaf) == h.path(leaf) for leaf in leaves)


@settings(max_examples=40, deadline=None)
@given(random_trees(), st.data())
def test_random_back_edge_is_a_cycle(data, draw):
    parents, leaves = data
    inner = [n for n in parents if n not in leaves]
    node = draw.draw(st.sampled_from(inner))
    h = Hierarchy.from_parents(parents)
    below = [n for n in parents if node in h.ancestors(n)]
    if not below:
        return
    descendant = draw.draw(st.sampled_from(below))
    parents = dict(parents)
    parents[node] = list(parents[node]) + [descendant] if node != "n0" else [descendant]
    with pytest.raises(ValueError, match="Cycle"):
        Hierarchy.from_parents(parents)


def test_a_chain_5000_deep_builds_renders_and_gives_its_path():
    import sys

    depth = 5000
    assert depth > sys.getrecursionlimit()
    nested = None
    for i in reversed(range(depth)):
        nested = {f"n{i}": nested}
    tree = Hierarchy.from_nested(nested)
    assert tree.leaves == (f"n{depth - 1}",) and tree.max_depth == depth - 1
    path = tree.path(f"n{depth - 1}")
    assert len(path) == depth and path[0] == "n0" and tree.paths() == [path]
    lines = tree.render().splitlines()
    assert len(lines) == depth and lines[-1].endswith(f"n{depth - 1}  [0]")
    assert Hierarchy.from_json(tree.to_json()) == tree
    assert len(tree._canonical_parent) == depth  # one link per node, not a stored path per node


def test_dag_paths_in_order():
    dag = Hierarchy.from_parents({"a": ["x", "y"], "x": "r", "y": "r", "b": "y"})
    assert dag.paths("a") == [("r", "x", "a"), ("r", "y", "a")] and dag.paths() == dag.paths("a") + [("r", "y", "b")]


@pytest.mark.parametrize("field, value, message", [
    ("names", ["cat"], '"names" must be an object'), ("leaves", "cat", '"leaves" must be a list'),
    ("internal_classes", "yes", '"internal_classes" must be true or false'), ("root", 3, '"root" must be a string'),
    ("parents", [["cat", "r"]], '"parents" must be an object'),
])
def test_from_json_checks_types(field, value, message):
    data = {"root": "r", "parents": {"cat": ["r"]}, field: value}
    with pytest.raises(ValueError, match=message):
        Hierarchy.from_json(json.dumps(data))


def test_render_draws_a_dag_once_per_edge():
    # A 41-rung ladder: every rung's two nodes hang under both nodes of the rung above, 2^40 root-to-leaf paths.
    # Drawing each path hung; each shared subtree is now drawn once and referred to ("shown above") elsewhere.
    parents = {"a0": ["r"], "b0": ["r"]}
    for i in range(1, 41):
        parents[f"a{i}"] = parents[f"b{i}"] = [f"a{i - 1}", f"b{i - 1}"]
    ladder = Hierarchy.from_parents(parents)
    lines = ladder.render().splitlines()
    assert len(lines) <= 1 + sum(len(p) for p in parents.values())
    assert sum("(shown above)" in line for line in lines) == 78  # under b0..b38: a_{i+1}, b_{i+1} drawn already
    assert lines[:3] == ["r", "├── a0", "│   ├── a1  (also under 1 other)"]
    small = Hierarchy.from_parents({"x": "r", "y": "r", "a": ["x", "y"], "b": "a", "c": "a"})
    assert small.render().splitlines() == [
        "r", "├── x", "│   └── a  (also under 1 other)",
        "│       ├── b  [0]", "│       └── c  [1]",
        "└── y", "    └── a  (also under 1 other)  (shown above)"]


def test_from_json_refuses_deep_nesting_with_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        Hierarchy.from_json('{"root": "r", "parents": ' + "[" * 200000 + "]" * 200000 + "}")
    with pytest.raises(ValueError, match="neither JSON text nor an existing file"):
        Hierarchy.from_json("[" * 200000)


def test_the_documented_hierarchy_files_read():
    import pathlib
    import re

    page = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "hierarchy.md").read_text()
    files = re.findall(r"^```json\n(.*?)^```", page, re.S | re.M)
    assert len(files) == 2
    nested, parents = (Hierarchy.from_json(text) for text in files)
    assert nested.leaves == ("t-shirt", "shirt", "pullover", "sandal", "sneaker", "ankle boot", "bag")
    assert parents.leaves == ("shirt", "pullover", "bag") and parents.parents("shirt") == ("tops",)


def test_with_leaves_reorders_the_labels_and_names_a_mismatch():
    tree = Hierarchy.from_nested({"r": {"g": ["b", "a"], "c": None}}, names={"g": "Group"})
    again = tree.with_leaves(["c", "a", "b"])
    assert again.leaves == ("c", "a", "b") and again.label("a") == 1 and again.parents("a") == ("g",)
    assert again.name("g") == "Group" and again.paths() == [("r", "c"), ("r", "g", "a"), ("r", "g", "b")]
    with pytest.raises(ValueError, match=r"not in the hierarchy: \['d'\]; in the hierarchy but not given: \['c'\]"):
        tree.with_leaves(["a", "b", "d"])
    with pytest.raises(ValueError, match="a class given twice"):
        tree.with_leaves(["a", "b", "c", "a"])
