"""A subject trie compiled from subscription patterns (NATS grammar).

Matching walks the tokens of a concrete subject once, following the literal
child, the ``*`` child and collecting the ``>`` values at each level, so its cost
grows with the subject's length and the wildcards on its path, not with the
number of subscriptions. The router caches the result per subject; the trie is
only walked on a cache miss.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from events.subjects import validate_pattern

V = TypeVar("V")


class _Node(Generic[V]):
    __slots__ = ("children", "star", "tail", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node[V]] = {}
        self.star: _Node[V] | None = None
        #: Values whose pattern ends in ``>`` at this node (one or more tokens follow).
        self.tail: list[V] = []
        #: Values whose pattern ends exactly at this node.
        self.values: list[V] = []


class SubjectTrie(Generic[V]):
    """Patterns mapped to values; :meth:`match` returns the values of every matching pattern.

    Values come back in insertion order, so a caller that inserts its
    subscriptions in order gets a stable, reproducible routing order.
    """

    def __init__(self) -> None:
        self._root: _Node[V] = _Node()
        self._order: dict[int, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def insert(self, pattern: str, value: V) -> None:
        """Add ``value`` under ``pattern``; raise ``InvalidSubject`` on a malformed pattern."""
        tokens = validate_pattern(pattern)
        node = self._root
        for token in tokens:
            if token == ">":
                node.tail.append(value)
                break
            if token == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                child = node.children.get(token)
                if child is None:
                    child = node.children[token] = _Node()
                node = child
        else:
            node.values.append(value)
        self._order[id(value)] = self._size
        self._size += 1

    def match(self, tokens: tuple[str, ...] | list[str]) -> list[V]:
        """Values whose pattern matches the (already validated) subject ``tokens``."""
        found: list[V] = []
        last = len(tokens) - 1
        level: list[_Node[V]] = [self._root]
        for index, token in enumerate(tokens):
            following: list[_Node[V]] = []
            for node in level:
                if node.tail:
                    # '>' needs at least one token, and there is one: this one.
                    found.extend(node.tail)
                child = node.children.get(token)
                if child is not None:
                    following.append(child)
                if node.star is not None:
                    following.append(node.star)
            if not following:
                break
            level = following
            if index == last:
                for node in level:
                    found.extend(node.values)
        if len(found) > 1:
            order = self._order
            found.sort(key=lambda value: order[id(value)])
        return found
