"""JSON for the domain's frozen dataclasses, driven by their type hints (no pickle).

What a plan store keeps must never be executable, so records are plain JSON: dataclasses as
objects, enums by value, tuples and frozensets as lists (frozensets sorted, so equal objects
give equal bytes), ``np.ndarray`` as base64 of its little-endian bytes with a dtype tag, and a
member of a union of dataclasses (``domain.Event``) as an object tagged ``{"type": ClassName}``.

``to_json``/``from_json`` map objects to JSON values and back; ``dumps``/``loads`` add
``json`` and ``zlib`` for storage.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import json
import types
import typing
import zlib
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: The tag naming a union member's class.
TYPE_TAG = "type"
#: Array element kinds a record may hold: bool, signed and unsigned integers, floats.
_ARRAY_KINDS = frozenset("biuf")


def to_json(obj: Any) -> Any:
    """The JSON value (dicts, lists, str, int, float, bool, None) for a domain object."""
    return _encode(obj, type(obj), "$")


def from_json(cls: type[T], data: Any) -> T:
    """The ``cls`` object ``data`` (from ``to_json``) describes.

    Fields missing from ``data`` take their defaults (records written before a field was
    added); unknown fields and values of the wrong shape raise ``ValueError`` with their path.
    """
    return _decode(data, cls, "$")


def dumps(obj: Any) -> bytes:
    """``obj`` as zlib-compressed JSON."""
    text = json.dumps(to_json(obj), separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode("utf-8"))


def loads(cls: type[T], payload: bytes) -> T:
    """The ``cls`` object in ``payload`` (from ``dumps``)."""
    return from_json(cls, json.loads(zlib.decompress(payload).decode("utf-8")))


# ---------------------------------------------------------------------------- type hints


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """``(name, resolved type)`` of each ``__init__`` field of dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _union_members(tp: Any) -> tuple[bool, tuple[Any, ...]]:
    """Whether ``tp`` admits ``None``, and its other members."""
    args = typing.get_args(tp)
    return type(None) in args, tuple(a for a in args if a is not type(None))


def _tagged_members(members: tuple[Any, ...], path: str) -> dict[str, type]:
    """Members of a union of several dataclasses by class name (the tag)."""
    by_name: dict[str, type] = {}
    for member in members:
        if not (isinstance(member, type) and dataclasses.is_dataclass(member)):
            raise TypeError(f"{path}: a union of several types must be of dataclasses only, not {member!r}")
        if any(name == TYPE_TAG for name, _ in _fields(member)):
            raise TypeError(f"{path}: {member.__name__} has a field named {TYPE_TAG!r}, the union tag")
        by_name[member.__name__] = member
    return by_name


# ---------------------------------------------------------------------------- encode


def _encode(value: Any, tp: Any, path: str) -> Any:
    if _is_union(tp):
        nullable, members = _union_members(tp)
        if value is None:
            if not nullable:
                raise TypeError(f"{path}: None for {tp!r}")
            return None
        if len(members) == 1:
            return _encode(value, members[0], path)
        by_name = _tagged_members(members, path)
        cls = type(value)
        if by_name.get(cls.__name__) is not cls:
            raise TypeError(f"{path}: {cls.__name__} is not a member of {tp!r}")
        return {TYPE_TAG: cls.__name__, **_encode(value, cls, path)}

    origin = typing.get_origin(tp) or tp
    if isinstance(value, enum.Enum):  # before int: an IntEnum is an int
        return value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _encode(getattr(value, name), hint, f"{path}.{name}") for name, hint in _fields(type(value))}
    if isinstance(value, np.ndarray):
        return _encode_array(value, path)
    if origin is tuple:
        hints = _tuple_hints(tp, len(value))
        if len(hints) != len(value):
            raise TypeError(f"{path}: {len(value)} items for {tp!r}")
        return [_encode(item, hint, f"{path}[{i}]") for i, (item, hint) in enumerate(zip(value, hints, strict=True))]
    if origin in (frozenset, set):
        (hint,) = typing.get_args(tp) or (Any,)
        return sorted(_encode(item, hint, f"{path}[]") for item in value)
    if origin is dict:
        _, hint = typing.get_args(tp) or (str, Any)
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{path}: dict keys must be str")
        return {key: _encode(item, hint, f"{path}.{key}") for key, item in value.items()}
    raise TypeError(f"{path}: cannot encode {type(value).__name__} as {tp!r}")


def _tuple_hints(tp: Any, size: int) -> list[Any]:
    """The element types of a tuple of ``size`` items of type ``tp``."""
    args = typing.get_args(tp)
    if not args:  # a bare ``tuple`` (``to_json`` of a tuple): items by their own type
        return [Any] * size
    if len(args) == 2 and args[1] is Ellipsis:
        return [args[0]] * size
    return list(args)


def _encode_array(array: np.ndarray, path: str) -> dict[str, Any]:
    if array.dtype.kind not in _ARRAY_KINDS:
        raise TypeError(f"{path}: arrays of {array.dtype} are not stored")
    little = array.dtype.newbyteorder("<")
    return {
        "dtype": little.str,
        "shape": list(array.shape),
        "base64": base64.b64encode(np.ascontiguousarray(array, dtype=little).tobytes()).decode("ascii"),
    }


# ---------------------------------------------------------------------------- decode


def _decode(data: Any, tp: Any, path: str) -> Any:
    if tp is Any:
        return data
    if _is_union(tp):
        nullable, members = _union_members(tp)
        if data is None:
            if not nullable:
                raise ValueError(f"{path}: null for {tp!r}")
            return None
        if len(members) == 1:
            return _decode(data, members[0], path)
        by_name = _tagged_members(members, path)
        fields = dict(_expect(data, dict, path))
        tag = fields.pop(TYPE_TAG, None)
        if tag not in by_name:
            raise ValueError(f"{path}.{TYPE_TAG}: {tag!r} is not one of {sorted(by_name)}")
        return _decode(fields, by_name[tag], path)

    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        try:
            return origin(data)
        except ValueError:
            raise ValueError(f"{path}: {data!r} is not a {origin.__name__}") from None
    if origin is bool:
        return _expect(data, bool, path)
    if origin is int:
        if isinstance(data, bool):
            raise ValueError(f"{path}: expected int, got bool")
        return _expect(data, int, path)
    if origin is float:
        if isinstance(data, bool):
            raise ValueError(f"{path}: expected float, got bool")
        return float(_expect(data, (int, float), path))
    if origin is str:
        return _expect(data, str, path)
    if origin is type(None):
        if data is not None:
            raise ValueError(f"{path}: expected null")
        return None
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return _decode_dataclass(_expect(data, dict, path), origin, path)
    if origin is np.ndarray:
        return _decode_array(_expect(data, dict, path), path)
    if origin is tuple:
        items = _expect(data, list, path)
        hints = _tuple_hints(tp, len(items))
        if len(hints) != len(items):
            raise ValueError(f"{path}: expected {len(hints)} items, got {len(items)}")
        return tuple(
            _decode(item, hint, f"{path}[{i}]") for i, (item, hint) in enumerate(zip(items, hints, strict=True))
        )
    if origin in (frozenset, set):
        (hint,) = typing.get_args(tp) or (Any,)
        return origin(_decode(item, hint, f"{path}[]") for item in _expect(data, list, path))
    if origin is dict:
        _, hint = typing.get_args(tp) or (str, Any)
        return {key: _decode(item, hint, f"{path}.{key}") for key, item in _expect(data, dict, path).items()}
    raise TypeError(f"{path}: cannot decode {tp!r}")


def _decode_dataclass(data: dict[str, Any], cls: type, path: str) -> Any:
    fields = _fields(cls)
    unknown = set(data) - {name for name, _ in fields}
    if unknown:
        raise ValueError(f"{path}: unknown fields {sorted(unknown)} for {cls.__name__}")
    return cls(**{name: _decode(data[name], hint, f"{path}.{name}") for name, hint in fields if name in data})


def _decode_array(data: dict[str, Any], path: str) -> np.ndarray:
    try:
        dtype = np.dtype(_expect(data["dtype"], str, f"{path}.dtype"))
        shape = tuple(_expect(data["shape"], list, f"{path}.shape"))
        raw = base64.b64decode(_expect(data["base64"], str, f"{path}.base64"), validate=True)
    except KeyError as missing:
        raise ValueError(f"{path}: array without {missing}") from None
    except TypeError as bad:  # np.dtype of an unknown name
        raise ValueError(f"{path}.dtype: {bad}") from None
    if dtype.kind not in _ARRAY_KINDS:
        raise ValueError(f"{path}: arrays of {dtype} are not stored")
    # A writable copy in native byte order, as the solver's inputs expect.
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def _expect(data: Any, kind: type | tuple[type, ...], path: str) -> Any:
    if not isinstance(data, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ValueError(f"{path}: expected {names}, got {type(data).__name__}")
    return data
