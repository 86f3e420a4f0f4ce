"""Class texts for text towers: every node of a hierarchy in a prompt template (HGR-Net, CLIP)."""

TEMPLATE = "a photo of a {}."


def class_prompts(hierarchy, template=TEMPLATE, names=None):
    """One text per node of `hierarchy` but the root, in `NodeTables` order (the classes first).

    A node's name is its human-readable name (for WordNet hierarchies the synset's first lemma, as HGR-Net
    uses), or `names[node]` where given, underscores as spaces, put into `template`. Two nodes with the same
    text (ignoring case) would be one point for the text tower, a class and its own ancestor for the loss:
    that raises, naming them, so that `names` can tell them apart.

    Args:
        hierarchy: a `keras_hier.Hierarchy`.
        template: a format string with one `{}`.
        names: optional dict node -> name overriding the hierarchy's names.

    Returns:
        list of strings.

    Raises:
        ValueError: for a template without exactly one `{}`, or two nodes with the same text.

    Example:
    >>> from keras_hier import Hierarchy
    >>> class_prompts(Hierarchy.from_nested({"root": {"hunting_dog": ["beagle"]}}))
    ['a photo of a beagle.', 'a photo of a hunting dog.']
    """
    from keras_hier.node_tables import NodeTables

    if template.count("{}") != 1:
        raise ValueError(f"`template` needs exactly one '{{}}'; got {template!r}.")
    tables = NodeTables(hierarchy)
    names = names or {}
    texts = [template.format(names.get(n, hierarchy.name(n)).replace("_", " ")) for n in tables.nodes]
    first = {}
    for node, text in zip(tables.nodes, texts):
        other = first.setdefault(text.lower(), node)
        if other != node:
            raise ValueError(
                f"Nodes {other!r} and {node!r} have the same text {text!r}: pass `names={{{node!r}: ...}}` "
                "to tell them apart."
            )
    return texts
