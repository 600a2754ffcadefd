"""Decoding: a JSON value to the domain value a type hint declares, by a function made once per
type hint (``decoder``). Data of the wrong shape is refused with its path."""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import typing
from typing import Any

import numpy as np

from dispatch.codec._base import Codec, Refused, blame, same
from dispatch.codec._generate import define, on_first_use
from dispatch.codec._hints import (
    ARRAY_KINDS,
    NOTHING,
    PLAIN,
    TYPE_TAG,
    dict_value_hint,
    fields,
    is_union,
    item_hint,
    tagged_members,
    tuple_hints,
    union_members,
)
from dispatch.domain import init_only_stores_fields


@functools.cache
def decoder(tp: Any) -> Codec:
    """The function decoding JSON data to a value of type ``tp``."""
    if tp is Any:
        return same
    if is_union(tp):
        return _union_decoder(tp)
    origin = typing.get_origin(tp) or tp
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        return _enum_decoder(origin)
    plain = _PLAIN_DECODERS.get(origin)
    if plain is not None:
        return plain
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        return _dataclass_decoder(origin)
    if origin is np.ndarray:
        return _decode_array
    if origin is tuple:
        return _tuple_decoder(tp)
    if origin in (frozenset, set):
        dec = decoder(item_hint(tp))

        def decode_set(data: Any) -> Any:
            items = _expect(data, list)
            try:
                return origin(map(dec, items))
            except Refused as refused:
                raise refused.at("[]") from None

        return decode_set
    if origin is dict:
        dec = decoder(dict_value_hint(tp))

        def decode_dict(data: Any) -> dict[str, Any]:
            _expect(data, dict)
            try:
                return {key: dec(item) for key, item in data.items()}
            except Refused as refused:
                raise blame(refused, ((f".{key}", dec, item) for key, item in data.items())) from None

        return decode_dict
    raise TypeError(f"cannot decode {tp!r}")


def _passing(tp: Any) -> frozenset[type]:
    """The JSON types ``decoder(tp)`` returns unchanged (checked inline, saving a call)."""
    if is_union(tp):
        nullable, members = union_members(tp)
        if len(members) == 1:
            return _passing(members[0]) | ({type(None)} if nullable else NOTHING)
    return frozenset({tp}) if tp in PLAIN else NOTHING


@functools.cache
def _dataclass_decoder(cls: type) -> Codec:
    return on_first_use(_compile_decoder, cls)


def _compile_decoder(cls: type) -> Codec:
    """``cls``'s decoder for an object with all its fields, as straight-line code (see ``_generate``).

    Other data (fields missing, unknown fields, not an object) goes to ``_decode_partial``.
    """
    hints = fields(cls)
    namespace: dict[str, Any] = {
        "Refused": Refused,
        "cls": cls,
        "new": object.__new__,
        "partial": functools.partial(_decode_partial, cls),
    }
    items = []
    for i, (name, hint) in enumerate(hints):
        namespace[f"d{i}"] = decoder(hint)
        passing = namespace[f"p{i}"] = _passing(hint)
        if passing:
            items.append(f"{name!r}: x if type(x := data[{name!r}]) in p{i} else d{i}(x)")
        else:
            items.append(f"{name!r}: d{i}(data[{name!r}])")

    def blame_field(refused: Refused, data: dict[str, Any]) -> Refused:
        return blame(refused, ((f".{name}", decoder(hint), data[name]) for name, hint in hints))

    namespace["blame"] = blame_field
    if init_only_stores_fields(cls):
        # A frozen __init__ sets each field with object.__setattr__: four times the cost.
        build = "obj = new(cls)\n    obj.__dict__.update(fields)\n    return obj"
    else:
        build = "return cls(**fields)"
    source = f"""
def decode(data):
    if type(data) is not dict or len(data) != {len(hints)}:
        return partial(data)
    try:
        fields = {{{", ".join(items)}}}
    except KeyError:  # as many keys as fields, but not theirs
        return partial(data)
    except Refused as refused:
        raise blame(refused, data) from None
    {build}
"""
    return define(cls, "decode", source, namespace)


def _decode_partial(cls: type, data: Any) -> Any:
    """A ``cls`` from ``data`` that may lack fields (they take their defaults), or is refused."""
    hints = dict(fields(cls))
    if not isinstance(data, dict):
        raise Refused(f"expected dict, got {type(data).__name__}")
    unknown = set(data) - set(hints)
    if unknown:
        raise Refused(f"unknown fields {sorted(unknown)} for {cls.__name__}")
    missing = [f.name for f in dataclasses.fields(cls) if f.init and _required(f) and f.name not in data]
    if missing:
        raise Refused(f"missing fields {missing} for {cls.__name__}")
    decoders = {name: decoder(hint) for name, hint in hints.items()}
    try:
        kwargs = {name: decoders[name](value) for name, value in data.items()}
    except Refused as refused:
        raise blame(refused, ((f".{name}", decoders[name], value) for name, value in data.items())) from None
    return cls(**kwargs)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _union_decoder(tp: Any) -> Codec:
    nullable, members = union_members(tp)
    if len(members) == 1:
        dec = decoder(members[0])

        def decode_optional(data: Any) -> Any:
            return None if data is None else dec(data)

        return decode_optional if nullable else dec
    decoders = {name: decoder(cls) for name, cls in tagged_members(tp, members).items()}

    def decode_tagged(data: Any) -> Any:
        if data is None:
            if not nullable:
                raise Refused(f"null for {tp!r}")
            return None
        untagged = dict(_expect(data, dict))
        tag = untagged.pop(TYPE_TAG, None)
        dec = decoders.get(tag) if isinstance(tag, str) else None
        if dec is None:
            raise Refused(f"{tag!r} is not one of {sorted(decoders)}").at(f".{TYPE_TAG}")
        return dec(untagged)

    return decode_tagged


def _enum_decoder(cls: type[enum.Enum]) -> Codec:
    by_value = {member.value: member for member in cls}

    def decode(data: Any) -> Any:
        try:
            return by_value[data]
        except (KeyError, TypeError):  # not a value, or unhashable: as the enum itself decides
            try:
                return cls(data)
            except ValueError:
                raise Refused(f"{data!r} is not a {cls.__name__}") from None

    return decode


def _tuple_decoder(tp: Any) -> Codec:
    hints = tuple_hints(tp)
    if hints is None:
        dec = decoder(item_hint(tp))

        def decode_items(data: Any) -> tuple[Any, ...]:
            _expect(data, list)
            try:
                return tuple([dec(item) for item in data])
            except Refused as refused:
                raise blame(refused, ((f"[{i}]", dec, item) for i, item in enumerate(data))) from None

        return decode_items
    decs = tuple(decoder(hint) for hint in hints)

    def decode_fixed(data: Any) -> tuple[Any, ...]:
        if len(_expect(data, list)) != len(decs):
            raise Refused(f"expected {len(decs)} items, got {len(data)}")
        try:
            return tuple([dec(item) for dec, item in zip(decs, data, strict=True)])
        except Refused as refused:
            raise blame(
                refused, ((f"[{i}]", dec, item) for i, (dec, item) in enumerate(zip(decs, data, strict=True)))
            ) from None

    return decode_fixed


def _decode_bool(data: Any) -> bool:
    return typing.cast(bool, _expect(data, bool))


def _decode_int(data: Any) -> int:
    if type(data) is int:
        return data
    if isinstance(data, bool):
        raise Refused("expected int, got bool")
    return typing.cast(int, _expect(data, int))


def _decode_float(data: Any) -> float:
    if type(data) is float:
        return data
    if isinstance(data, bool):
        raise Refused("expected float, got bool")
    return float(_expect(data, (int, float)))


def _decode_str(data: Any) -> str:
    return typing.cast(str, _expect(data, str))


def _decode_none(data: Any) -> None:
    if data is not None:
        raise Refused("expected null")


_PLAIN_DECODERS: dict[Any, Codec] = {
    bool: _decode_bool,
    int: _decode_int,
    float: _decode_float,
    str: _decode_str,
    type(None): _decode_none,
}


def _decode_array(data: Any) -> np.ndarray:
    _expect(data, dict)
    try:
        dtype = np.dtype(_expect(data["dtype"], str, ".dtype"))
        shape = tuple(_expect(data["shape"], list, ".shape"))
        raw = base64.b64decode(_expect(data["base64"], str, ".base64"), validate=True)
    except KeyError as missing:
        raise Refused(f"array without {missing}") from None
    except TypeError as bad:  # np.dtype of an unknown name
        raise Refused(str(bad)).at(".dtype") from None
    if dtype.kind not in ARRAY_KINDS:
        raise Refused(f"arrays of {dtype} are not stored")
    # A writable copy in native byte order, as the solver's inputs expect.
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def _expect(data: Any, kind: type | tuple[type, ...], step: str = "") -> Any:
    if not isinstance(data, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        refused = Refused(f"expected {names}, got {type(data).__name__}")
        raise refused.at(step) if step else refused
    return data
