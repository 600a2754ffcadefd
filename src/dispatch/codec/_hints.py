"""Reading type hints: a dataclass's fields, unions (optional or tagged), tuples, sets and dicts,
and the kinds of value stored as they are."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

#: The tag naming a union member's class.
TYPE_TAG = "type"
#: Array element kinds a record may hold: bool, signed and unsigned integers, floats.
ARRAY_KINDS = frozenset("biuf")
#: Values stored as they are, whatever the hint (other than a union of dataclasses).
PLAIN = frozenset({str, int, float, bool, type(None)})
NOTHING: frozenset[type] = frozenset()


@functools.cache
def fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, resolved type)`` of each ``__init__`` field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def union_members(tp: Any) -> tuple[bool, tuple[Any, ...]]:
    """Whether ``tp`` admits ``None``, and its other members."""
    args = typing.get_args(tp)
    return type(None) in args, tuple(a for a in args if a is not type(None))


def is_tagged_union(tp: Any) -> bool:
    return is_union(tp) and len(union_members(tp)[1]) > 1


def tagged_members(tp: Any, members: tuple[Any, ...]) -> dict[str, type]:
    """Members of a union of several dataclasses by class name (the tag)."""
    by_name: dict[str, type] = {}
    for member in members:
        if not (isinstance(member, type) and dataclasses.is_dataclass(member)):
            raise TypeError(f"{tp!r}: a union of several types must be of dataclasses only, not {member!r}")
        if any(name == TYPE_TAG for name, _ in fields(member)):
            raise TypeError(f"{tp!r}: {member.__name__} has a field named {TYPE_TAG!r}, the union tag")
        by_name[member.__name__] = member
    return by_name


def tuple_hints(tp: Any) -> tuple[Any, ...] | None:
    """The element types of a fixed-size tuple type, or ``None`` for ``tuple[X, ...]`` and bare ``tuple``."""
    args = typing.get_args(tp)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return None
    return args


def item_hint(tp: Any) -> Any:
    """The item type of ``tuple[X, ...]``, ``frozenset[X]`` or ``set[X]`` (``Any`` when bare)."""
    return (typing.get_args(tp) or (Any,))[0]


def dict_value_hint(tp: Any) -> Any:
    """The value type of ``dict[str, X]`` (``Any`` when bare)."""
    return (typing.get_args(tp) or (str, Any))[1]
