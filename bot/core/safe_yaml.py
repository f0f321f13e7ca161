"""YAML from an untrusted repo file, read only when it cannot cost the worker its time or memory.

PyYAML keeps an alias as a reference, so a "billion laughs" file loads small but expands to
billions of values wherever it is walked or printed (https://github.com/yaml/pyyaml/issues/235);
its composer recurses once per level of nesting. So a document is built only once its node graph,
aliases followed, is known to nest at most MAX_DEPTH levels and hold at most MAX_VALUES values;
otherwise `load_yaml` raises TooBig, saying what.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 32
MAX_VALUES = 10_000


class TooBig(Exception):
    """A settings file that would take too much to read; the message says what."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses nesting deeper than MAX_DEPTH while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise TooBig(f"nests deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str) -> Any:
    """The one document in `text`, built only once its node graph, aliases followed, is known
    to hold at most MAX_VALUES values at most MAX_DEPTH deep."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Count the values and levels the node graph stands for with every alias expanded: each
    node is walked once (its count remembered), so a bomb is measured without expanding it."""
    counts: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels)
    open_nodes: set[int] = set()

    def walk(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise TooBig(f"nests deeper than {MAX_DEPTH} levels (aliases followed)")
        key = id(node)
        if key in counts:
            values, levels = counts[key]
        elif key in open_nodes:
            raise TooBig("has an alias that contains itself")
        else:
            if isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            else:
                children = []
            open_nodes.add(key)
            values, levels = 1, 1
            for child in children:
                child_values, child_levels = walk(child, depth + 1)
                values += child_values
                levels = max(levels, child_levels + 1)
                if values > MAX_VALUES:
                    break
            open_nodes.discard(key)
            counts[key] = (values, levels)
        if depth + levels > MAX_DEPTH + 1:
            raise TooBig(f"nests deeper than {MAX_DEPTH} levels (aliases followed)")
        if values > MAX_VALUES:
            raise TooBig(
                f"stands for more than {MAX_VALUES:,} values with its aliases followed "
                "(a YAML bomb?)"
            )
        return values, levels

    walk(root, 0)
