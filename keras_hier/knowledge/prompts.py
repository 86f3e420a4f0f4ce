"""Class texts for text towers: every node of a hierarchy in a prompt template (HGR-Net, CLIP)."""

TEMPLATE = "a photo of a {}."


def class_prompts(hierarchy, template=TEMPLATE):
    """One text per node of `hierarchy` but the root, in `NodeTables` order (the classes first).

    A node's name is its human-readable name (for WordNet hierarchies the synset's first lemma, as HGR-Net
    uses), underscores as spaces, put into `template`.

    Args:
        hierarchy: a `keras_hier.Hierarchy`.
        template: a format string with one `{}`.

    Returns:
        list of strings.

    Example:
    >>> from keras_hier import Hierarchy
    >>> class_prompts(Hierarchy.from_nested({"root": {"hunting_dog": ["beagle"]}}))
    ['a photo of a beagle.', 'a photo of a hunting dog.']
    """
    from keras_hier.node_tables import NodeTables

    if template.count("{}") != 1:
        raise ValueError(f"`template` needs exactly one '{{}}'; got {template!r}.")
    return [template.format(name.replace("_", " ")) for name in NodeTables(hierarchy).names()]
