"""Encoding: a domain value to its JSON value, by a function made once per type hint (``encoder``)."""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import operator
import typing
from typing import Any

import numpy as np

from dispatch.codec._base import Codec, Refused, blame, same
from dispatch.codec._generate import define, on_first_use
from dispatch.codec._hints import (
    ARRAY_KINDS,
    PLAIN,
    TYPE_TAG,
    dict_value_hint,
    fields,
    is_tagged_union,
    is_union,
    item_hint,
    tagged_members,
    tuple_hints,
    union_members,
)


@functools.cache
def encoder(tp: Any) -> Codec:
    """The function encoding a value declared as ``tp``.

    As with any value, a value's own kind decides first (an enum, a plain value, a dataclass,
    an array), then ``tp`` (a union, a tuple, a set, a dict).
    """
    if is_union(tp):
        return _union_encoder(tp)
    origin = typing.get_origin(tp) or tp
    container = _container_encoder(tp, origin)

    def encode(value: Any) -> Any:
        own = _kind_encoder(type(value))  # type: ignore[arg-type]  # a class is hashable
        if own is not None:
            return own(value)
        if container is not None:
            return container(value)
        raise Refused(f"cannot encode {type(value).__name__} as {tp!r}")

    declared, direct = _direct_encoder(tp)
    if direct is None:

        def encode_plain(value: Any) -> Any:
            return value if type(value) in PLAIN else encode(value)

        return encode_plain

    def encode_declared(value: Any) -> Any:
        return direct(value) if type(value) is declared else encode(value)

    return encode_declared


@functools.cache
def _direct_encoder(tp: Any) -> tuple[type | None, Codec | None]:
    """The class of ``tp``'s usual values and their encoder, skipping the checks on others.

    ``(None, None)`` when ``tp`` is a plain type (its values need no call) or a tagged union.
    """
    if is_union(tp):
        _, members = union_members(tp)
        return _direct_encoder(members[0]) if len(members) == 1 else (None, None)
    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type) or origin in PLAIN:
        return None, None
    direct = _kind_encoder(origin) or _container_encoder(tp, origin)
    return (origin, direct) if direct is not None else (None, None)


@functools.cache
def _kind_encoder(cls: type) -> Codec | None:
    """The encoder for values of class ``cls`` that does not depend on the hint, if any."""
    if issubclass(cls, enum.Enum):  # before int: an IntEnum is an int
        return operator.attrgetter("value")
    if issubclass(cls, (bool, int, float, str, type(None))):
        return same
    if dataclasses.is_dataclass(cls):
        return _dataclass_encoder(cls)
    if issubclass(cls, np.ndarray):
        return _encode_array
    return None


@functools.cache
def _dataclass_encoder(cls: type) -> Codec:
    return on_first_use(_compile_encoder, cls)


def _compile_encoder(cls: type) -> Codec:
    """``cls``'s encoder as straight-line code, ``{"name": <value.name encoded>, ...}``.

    Generated (``_generate``) because a plan holds thousands of objects: a loop over the fields
    costs twice as much. A plain value is stored without a call; a member of a tagged union
    always goes to its encoder, which refuses plain values.
    """
    hints = fields(cls)
    namespace: dict[str, Any] = {"PLAIN": PLAIN, "Refused": Refused}
    items = []
    for i, (name, hint) in enumerate(hints):
        namespace[f"e{i}"] = encoder(hint)
        namespace[f"t{i}"], namespace[f"k{i}"] = _direct_encoder(hint)
        if namespace[f"k{i}"] is not None:
            items.append(f"{name!r}: k{i}(x) if type(x := value.{name}) is t{i} else e{i}(x)")
        elif is_tagged_union(hint):
            items.append(f"{name!r}: e{i}(value.{name})")
        else:
            items.append(f"{name!r}: x if type(x := value.{name}) in PLAIN else e{i}(x)")

    def blame_field(refused: Refused, value: Any) -> Refused:
        return blame(refused, ((f".{name}", encoder(hint), getattr(value, name)) for name, hint in hints))

    namespace["blame"] = blame_field
    source = f"""
def encode(value):
    try:
        return {{{", ".join(items)}}}
    except Refused as refused:
        raise blame(refused, value) from None
"""
    return define(cls, "encode", source, namespace)


def _union_encoder(tp: Any) -> Codec:
    nullable, members = union_members(tp)
    if len(members) == 1:
        (member,) = members
        enc = encoder(member)

        def encode_optional(value: Any) -> Any:
            return None if value is None else enc(value)

        return encode_optional if nullable else enc
    tagged = {cls: (name, _dataclass_encoder(cls)) for name, cls in tagged_members(tp, members).items()}

    def encode_tagged(value: Any) -> Any:
        if value is None:
            if not nullable:
                raise Refused(f"None for {tp!r}")
            return None
        member = tagged.get(type(value))
        if member is None:
            raise Refused(f"{type(value).__name__} is not a member of {tp!r}")
        tag, enc = member
        return {TYPE_TAG: tag, **enc(value)}

    return encode_tagged


def _container_encoder(tp: Any, origin: Any) -> Codec | None:
    """The encoder of a tuple, set or dict declared as ``tp``, or ``None`` for other types."""
    if origin is tuple:
        return _tuple_encoder(tp)
    if origin in (frozenset, set):
        enc = encoder(item_hint(tp))

        def encode_set(value: Any) -> list[Any]:
            try:
                items = [enc(item) for item in value]
            except Refused as refused:
                raise refused.at("[]") from None
            except TypeError:  # not iterable
                raise Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None
            return sorted(items)

        return encode_set
    if origin is dict:
        enc = encoder(dict_value_hint(tp))

        def encode_dict(value: Any) -> dict[str, Any]:
            if not all(isinstance(key, str) for key in value):
                raise Refused("dict keys must be str")
            try:
                return {key: enc(item) for key, item in value.items()}
            except Refused as refused:
                raise blame(refused, ((f".{key}", enc, item) for key, item in value.items())) from None

        return encode_dict
    return None


def _tuple_encoder(tp: Any) -> Codec:
    hints = tuple_hints(tp)
    if hints is None:
        enc = encoder(item_hint(tp))

        def encode_items(value: Any) -> list[Any]:
            try:
                return [enc(item) for item in value]
            except Refused as refused:
                raise blame(refused, ((f"[{i}]", enc, item) for i, item in enumerate(value))) from None
            except TypeError:  # not iterable
                raise Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None

        return encode_items
    encs = tuple(encoder(hint) for hint in hints)

    def encode_fixed(value: Any) -> list[Any]:
        try:
            size = len(value)
        except TypeError:
            raise Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None
        if size != len(encs):
            raise Refused(f"{size} items for {tp!r}")
        try:
            return [enc(item) for enc, item in zip(encs, value, strict=True)]
        except Refused as refused:
            raise blame(
                refused, ((f"[{i}]", enc, item) for i, (enc, item) in enumerate(zip(encs, value, strict=True)))
            ) from None

    return encode_fixed


def _encode_array(array: np.ndarray) -> dict[str, Any]:
    if array.dtype.kind not in ARRAY_KINDS:
        raise Refused(f"arrays of {array.dtype} are not stored")
    little = array.dtype.newbyteorder("<")
    return {
        "dtype": little.str,
        "shape": list(array.shape),
        "base64": base64.b64encode(np.ascontiguousarray(array, dtype=little).tobytes()).decode("ascii"),
    }
