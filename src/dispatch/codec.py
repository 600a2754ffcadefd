"""JSON for the domain's frozen dataclasses, driven by their type hints (no pickle).

What a plan store keeps must never be executable, so records are plain JSON: dataclasses as
objects, enums by value, tuples and frozensets as lists (frozensets sorted, so equal objects
give equal bytes), ``np.ndarray`` as base64 of its little-endian bytes with a dtype tag, and a
member of a union of dataclasses (``domain.Event``) as an object tagged ``{"type": ClassName}``.

``to_json``/``from_json`` map objects to JSON values and back; ``dumps``/``loads`` add
``json`` and ``zlib`` for storage.

Each type hint is read once: ``_encoder``/``_decoder`` turn it into a function (cached by hint),
so a value costs a direct call, not a walk over its hint. Re-plans and cancellations load and
store the whole day, inside latency budgets of 50-100 ms. Paths (``$.jobs[3].priority``) are
only worked out when a value is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import json
import operator
import types
import typing
import zlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from dispatch.domain import init_only_stores_fields

T = TypeVar("T")
Codec = Callable[[Any], Any]

#: The tag naming a union member's class.
TYPE_TAG = "type"
#: Array element kinds a record may hold: bool, signed and unsigned integers, floats.
_ARRAY_KINDS = frozenset("biuf")
#: Values stored as they are, whatever the hint (other than a union of dataclasses).
_PLAIN = frozenset({str, int, float, bool, type(None)})
_NOTHING: frozenset[type] = frozenset()
#: ``to_json`` builds a fresh tree, so there are no cycles to look for.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
#: zlib's fastest level: for a 25-technician day, a third of the time of the default level
#: (0.7 ms, not 2 ms) for a third more bytes (24 kB, not 18 kB). Any level decompresses.
_ZLIB_LEVEL = 1


def to_json(obj: Any) -> Any:
    """The JSON value (dicts, lists, str, int, float, bool, None) for a domain object."""
    try:
        return _encoder(type(obj))(obj)  # type: ignore[arg-type]  # a class is hashable; typeshed says not
    except _Refused as refused:
        raise TypeError(str(refused)) from None


def from_json(cls: type[T], data: Any) -> T:
    """The ``cls`` object ``data`` (from ``to_json``) describes.

    Fields missing from ``data`` take their defaults (records written before a field was
    added); unknown fields and values of the wrong shape raise ``ValueError`` with their path.
    """
    try:
        return typing.cast(T, _decoder(cls)(data))  # type: ignore[arg-type]  # as above
    except _Refused as refused:
        raise ValueError(str(refused)) from None


def dumps(obj: Any) -> bytes:
    """``obj`` as zlib-compressed JSON."""
    return zlib.compress(_JSON.encode(to_json(obj)).encode("utf-8"), _ZLIB_LEVEL)


def loads(cls: type[T], payload: bytes) -> T:
    """The ``cls`` object in ``payload`` (from ``dumps``)."""
    return from_json(cls, json.loads(zlib.decompress(payload).decode("utf-8")))


class _Refused(Exception):
    """A value that cannot be encoded or decoded; its path is built on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.steps: list[str] = []  # innermost first

    def at(self, step: str) -> _Refused:
        """This refusal, one step (``.name``, ``[3]``) further from the root."""
        self.steps.append(step)
        return self

    def __str__(self) -> str:
        return f"${''.join(reversed(self.steps))}: {self.message}"


def _blame(refused: _Refused, attempts: Iterable[tuple[str, Codec, Any]]) -> _Refused:
    """``refused`` with the step of the first ``(step, codec, value)`` whose codec refuses its value.

    Codecs are pure, so redoing the parts of a refused value finds the part at fault; only the
    error path pays for it.
    """
    for step, codec, value in attempts:
        try:
            codec(value)
        except _Refused:
            return refused.at(step)
    return refused


def _same(value: Any) -> Any:
    return value


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


def _is_tagged_union(tp: Any) -> bool:
    return _is_union(tp) and len(_union_members(tp)[1]) > 1


def _tagged_members(tp: Any, members: tuple[Any, ...]) -> dict[str, type]:
    """Members of a union of several dataclasses by class name (the tag)."""
    by_name: dict[str, type] = {}
    for member in members:
        if not (isinstance(member, type) and dataclasses.is_dataclass(member)):
            raise TypeError(f"{tp!r}: a union of several types must be of dataclasses only, not {member!r}")
        if any(name == TYPE_TAG for name, _ in _fields(member)):
            raise TypeError(f"{tp!r}: {member.__name__} has a field named {TYPE_TAG!r}, the union tag")
        by_name[member.__name__] = member
    return by_name


def _tuple_hints(tp: Any) -> tuple[Any, ...] | None:
    """The element types of a fixed-size tuple type, or ``None`` for ``tuple[X, ...]`` and bare ``tuple``."""
    args = typing.get_args(tp)
    if not args or (len(args) == 2 and args[1] is Ellipsis):
        return None
    return args


def _item_hint(tp: Any) -> Any:
    """The item type of ``tuple[X, ...]``, ``frozenset[X]`` or ``set[X]`` (``Any`` when bare)."""
    return (typing.get_args(tp) or (Any,))[0]


# ---------------------------------------------------------------------------- encode


@functools.cache
def _encoder(tp: Any) -> Codec:
    """The function encoding a value declared as ``tp``.

    As with any value, a value's own kind decides first (an enum, a plain value, a dataclass,
    an array), then ``tp`` (a union, a tuple, a set, a dict).
    """
    if _is_union(tp):
        return _union_encoder(tp)
    origin = typing.get_origin(tp) or tp
    container = _container_encoder(tp, origin)

    def encode(value: Any) -> Any:
        own = _kind_encoder(type(value))  # type: ignore[arg-type]  # a class is hashable
        if own is not None:
            return own(value)
        if container is not None:
            return container(value)
        raise _Refused(f"cannot encode {type(value).__name__} as {tp!r}")

    declared, direct = _direct_encoder(tp)
    if direct is None:

        def encode_plain(value: Any) -> Any:
            return value if type(value) in _PLAIN else encode(value)

        return encode_plain

    def encode_declared(value: Any) -> Any:
        return direct(value) if type(value) is declared else encode(value)

    return encode_declared


@functools.cache
def _direct_encoder(tp: Any) -> tuple[type | None, Codec | None]:
    """The class of ``tp``'s usual values and their encoder, skipping the checks on others.

    ``(None, None)`` when ``tp`` is a plain type (its values need no call) or a tagged union.
    """
    if _is_union(tp):
        _, members = _union_members(tp)
        return _direct_encoder(members[0]) if len(members) == 1 else (None, None)
    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type) or origin in _PLAIN:
        return None, None
    direct = _kind_encoder(origin) or _container_encoder(tp, origin)
    return (origin, direct) if direct is not None else (None, None)


@functools.cache
def _kind_encoder(cls: type) -> Codec | None:
    """The encoder for values of class ``cls`` that does not depend on the hint, if any."""
    if issubclass(cls, enum.Enum):  # before int: an IntEnum is an int
        return operator.attrgetter("value")
    if issubclass(cls, (bool, int, float, str, type(None))):
        return _same
    if dataclasses.is_dataclass(cls):
        return _dataclass_encoder(cls)
    if issubclass(cls, np.ndarray):
        return _encode_array
    return None


@functools.cache
def _dataclass_encoder(cls: type) -> Codec:
    compiled: Codec | None = None  # on first use, so a dataclass may refer to itself

    def encode(value: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            compiled = _compile_encoder(cls)
        return compiled(value)

    return encode


def _compile_encoder(cls: type) -> Codec:
    """``cls``'s encoder as straight-line code, ``{"name": <value.name encoded>, ...}``.

    Generated (as ``dataclasses`` generates ``__init__``) because a plan holds thousands of
    objects: a loop over the fields costs twice as much. A plain value is stored without a call;
    a member of a tagged union always goes to its encoder, which refuses plain values.
    """
    fields = _fields(cls)
    namespace: dict[str, Any] = {"PLAIN": _PLAIN, "Refused": _Refused}
    items = []
    for i, (name, hint) in enumerate(fields):
        namespace[f"e{i}"] = _encoder(hint)
        namespace[f"t{i}"], namespace[f"k{i}"] = _direct_encoder(hint)
        if namespace[f"k{i}"] is not None:
            items.append(f"{name!r}: k{i}(x) if type(x := value.{name}) is t{i} else e{i}(x)")
        elif _is_tagged_union(hint):
            items.append(f"{name!r}: e{i}(value.{name})")
        else:
            items.append(f"{name!r}: x if type(x := value.{name}) in PLAIN else e{i}(x)")

    def blame(refused: _Refused, value: Any) -> _Refused:
        return _blame(refused, ((f".{name}", _encoder(hint), getattr(value, name)) for name, hint in fields))

    namespace["blame"] = blame
    source = f"""
def encode(value):
    try:
        return {{{", ".join(items)}}}
    except Refused as refused:
        raise blame(refused, value) from None
"""
    return _define(cls, "encode", source, namespace)


def _define(cls: type, name: str, source: str, namespace: dict[str, Any]) -> Codec:
    """The function ``name`` that ``source`` defines, with ``namespace`` as its globals.

    Only field names (identifiers, from class definitions) go into ``source``, never data.
    """
    exec(compile(source, f"<dispatch.codec {name} {cls.__qualname__}>", "exec"), namespace)
    return typing.cast(Codec, namespace[name])


def _union_encoder(tp: Any) -> Codec:
    nullable, members = _union_members(tp)
    if len(members) == 1:
        (member,) = members
        enc = _encoder(member)

        def encode_optional(value: Any) -> Any:
            return None if value is None else enc(value)

        return encode_optional if nullable else enc
    tagged = {cls: (name, _dataclass_encoder(cls)) for name, cls in _tagged_members(tp, members).items()}

    def encode_tagged(value: Any) -> Any:
        if value is None:
            if not nullable:
                raise _Refused(f"None for {tp!r}")
            return None
        member = tagged.get(type(value))
        if member is None:
            raise _Refused(f"{type(value).__name__} is not a member of {tp!r}")
        tag, enc = member
        return {TYPE_TAG: tag, **enc(value)}

    return encode_tagged


def _container_encoder(tp: Any, origin: Any) -> Codec | None:
    """The encoder of a tuple, set or dict declared as ``tp``, or ``None`` for other types."""
    if origin is tuple:
        return _tuple_encoder(tp)
    if origin in (frozenset, set):
        enc = _encoder(_item_hint(tp))

        def encode_set(value: Any) -> list[Any]:
            try:
                items = [enc(item) for item in value]
            except _Refused as refused:
                raise refused.at("[]") from None
            except TypeError:  # not iterable
                raise _Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None
            return sorted(items)

        return encode_set
    if origin is dict:
        enc = _encoder((typing.get_args(tp) or (str, Any))[1])

        def encode_dict(value: Any) -> dict[str, Any]:
            if not all(isinstance(key, str) for key in value):
                raise _Refused("dict keys must be str")
            try:
                return {key: enc(item) for key, item in value.items()}
            except _Refused as refused:
                raise _blame(refused, ((f".{key}", enc, item) for key, item in value.items())) from None

        return encode_dict
    return None


def _tuple_encoder(tp: Any) -> Codec:
    hints = _tuple_hints(tp)
    if hints is None:
        enc = _encoder(_item_hint(tp))

        def encode_items(value: Any) -> list[Any]:
            try:
                return [enc(item) for item in value]
            except _Refused as refused:
                raise _blame(refused, ((f"[{i}]", enc, item) for i, item in enumerate(value))) from None
            except TypeError:  # not iterable
                raise _Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None

        return encode_items
    encs = tuple(_encoder(hint) for hint in hints)

    def encode_fixed(value: Any) -> list[Any]:
        try:
            size = len(value)
        except TypeError:
            raise _Refused(f"cannot encode {type(value).__name__} as {tp!r}") from None
        if size != len(encs):
            raise _Refused(f"{size} items for {tp!r}")
        try:
            return [enc(item) for enc, item in zip(encs, value, strict=True)]
        except _Refused as refused:
            raise _blame(
                refused, ((f"[{i}]", enc, item) for i, (enc, item) in enumerate(zip(encs, value, strict=True)))
            ) from None

    return encode_fixed


def _encode_array(array: np.ndarray) -> dict[str, Any]:
    if array.dtype.kind not in _ARRAY_KINDS:
        raise _Refused(f"arrays of {array.dtype} are not stored")
    little = array.dtype.newbyteorder("<")
    return {
        "dtype": little.str,
        "shape": list(array.shape),
        "base64": base64.b64encode(np.ascontiguousarray(array, dtype=little).tobytes()).decode("ascii"),
    }


# ---------------------------------------------------------------------------- decode


@functools.cache
def _decoder(tp: Any) -> Codec:
    """The function decoding JSON data to a value of type ``tp``."""
    if tp is Any:
        return _same
    if _is_union(tp):
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
        dec = _decoder(_item_hint(tp))

        def decode_set(data: Any) -> Any:
            items = _expect(data, list)
            try:
                return origin(map(dec, items))
            except _Refused as refused:
                raise refused.at("[]") from None

        return decode_set
    if origin is dict:
        dec = _decoder((typing.get_args(tp) or (str, Any))[1])

        def decode_dict(data: Any) -> dict[str, Any]:
            _expect(data, dict)
            try:
                return {key: dec(item) for key, item in data.items()}
            except _Refused as refused:
                raise _blame(refused, ((f".{key}", dec, item) for key, item in data.items())) from None

        return decode_dict
    raise TypeError(f"cannot decode {tp!r}")


def _passing(tp: Any) -> frozenset[type]:
    """The JSON types ``_decoder(tp)`` returns unchanged (checked inline, saving a call)."""
    if _is_union(tp):
        nullable, members = _union_members(tp)
        if len(members) == 1:
            return _passing(members[0]) | ({type(None)} if nullable else _NOTHING)
    return frozenset({tp}) if tp in _PLAIN else _NOTHING


@functools.cache
def _dataclass_decoder(cls: type) -> Codec:
    compiled: Codec | None = None  # on first use, so a dataclass may refer to itself

    def decode(data: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            compiled = _compile_decoder(cls)
        return compiled(data)

    return decode


def _compile_decoder(cls: type) -> Codec:
    """``cls``'s decoder for an object with all its fields, as straight-line code (see ``_compile_encoder``).

    Other data (fields missing, unknown fields, not an object) goes to ``_decode_partial``.
    """
    fields = _fields(cls)
    namespace: dict[str, Any] = {
        "Refused": _Refused,
        "cls": cls,
        "new": object.__new__,
        "partial": functools.partial(_decode_partial, cls),
    }
    items = []
    for i, (name, hint) in enumerate(fields):
        namespace[f"d{i}"] = _decoder(hint)
        passing = namespace[f"p{i}"] = _passing(hint)
        if passing:
            items.append(f"{name!r}: x if type(x := data[{name!r}]) in p{i} else d{i}(x)")
        else:
            items.append(f"{name!r}: d{i}(data[{name!r}])")

    def blame(refused: _Refused, data: dict[str, Any]) -> _Refused:
        return _blame(refused, ((f".{name}", _decoder(hint), data[name]) for name, hint in fields))

    namespace["blame"] = blame
    if init_only_stores_fields(cls):
        # A frozen __init__ sets each field with object.__setattr__: four times the cost.
        build = "obj = new(cls)\n    obj.__dict__.update(fields)\n    return obj"
    else:
        build = "return cls(**fields)"
    source = f"""
def decode(data):
    if type(data) is not dict or len(data) != {len(fields)}:
        return partial(data)
    try:
        fields = {{{", ".join(items)}}}
    except KeyError:  # as many keys as fields, but not theirs
        return partial(data)
    except Refused as refused:
        raise blame(refused, data) from None
    {build}
"""
    return _define(cls, "decode", source, namespace)


def _decode_partial(cls: type, data: Any) -> Any:
    """A ``cls`` from ``data`` that may lack fields (they take their defaults), or is refused."""
    fields = dict(_fields(cls))
    if not isinstance(data, dict):
        raise _Refused(f"expected dict, got {type(data).__name__}")
    unknown = set(data) - set(fields)
    if unknown:
        raise _Refused(f"unknown fields {sorted(unknown)} for {cls.__name__}")
    missing = [f.name for f in dataclasses.fields(cls) if f.init and _required(f) and f.name not in data]
    if missing:
        raise _Refused(f"missing fields {missing} for {cls.__name__}")
    decoders = {name: _decoder(hint) for name, hint in fields.items()}
    try:
        kwargs = {name: decoders[name](value) for name, value in data.items()}
    except _Refused as refused:
        raise _blame(refused, ((f".{name}", decoders[name], value) for name, value in data.items())) from None
    return cls(**kwargs)


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _union_decoder(tp: Any) -> Codec:
    nullable, members = _union_members(tp)
    if len(members) == 1:
        dec = _decoder(members[0])

        def decode_optional(data: Any) -> Any:
            return None if data is None else dec(data)

        return decode_optional if nullable else dec
    decoders = {name: _decoder(cls) for name, cls in _tagged_members(tp, members).items()}

    def decode_tagged(data: Any) -> Any:
        if data is None:
            if not nullable:
                raise _Refused(f"null for {tp!r}")
            return None
        fields = dict(_expect(data, dict))
        tag = fields.pop(TYPE_TAG, None)
        dec = decoders.get(tag) if isinstance(tag, str) else None
        if dec is None:
            raise _Refused(f"{tag!r} is not one of {sorted(decoders)}").at(f".{TYPE_TAG}")
        return dec(fields)

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
                raise _Refused(f"{data!r} is not a {cls.__name__}") from None

    return decode


def _tuple_decoder(tp: Any) -> Codec:
    hints = _tuple_hints(tp)
    if hints is None:
        dec = _decoder(_item_hint(tp))

        def decode_items(data: Any) -> tuple[Any, ...]:
            _expect(data, list)
            try:
                return tuple([dec(item) for item in data])
            except _Refused as refused:
                raise _blame(refused, ((f"[{i}]", dec, item) for i, item in enumerate(data))) from None

        return decode_items
    decs = tuple(_decoder(hint) for hint in hints)

    def decode_fixed(data: Any) -> tuple[Any, ...]:
        if len(_expect(data, list)) != len(decs):
            raise _Refused(f"expected {len(decs)} items, got {len(data)}")
        try:
            return tuple([dec(item) for dec, item in zip(decs, data, strict=True)])
        except _Refused as refused:
            raise _blame(
                refused, ((f"[{i}]", dec, item) for i, (dec, item) in enumerate(zip(decs, data, strict=True)))
            ) from None

    return decode_fixed


def _decode_bool(data: Any) -> bool:
    return typing.cast(bool, _expect(data, bool))


def _decode_int(data: Any) -> int:
    if type(data) is int:
        return data
    if isinstance(data, bool):
        raise _Refused("expected int, got bool")
    return typing.cast(int, _expect(data, int))


def _decode_float(data: Any) -> float:
    if type(data) is float:
        return data
    if isinstance(data, bool):
        raise _Refused("expected float, got bool")
    return float(_expect(data, (int, float)))


def _decode_str(data: Any) -> str:
    return typing.cast(str, _expect(data, str))


def _decode_none(data: Any) -> None:
    if data is not None:
        raise _Refused("expected null")


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
        raise _Refused(f"array without {missing}") from None
    except TypeError as bad:  # np.dtype of an unknown name
        raise _Refused(str(bad)).at(".dtype") from None
    if dtype.kind not in _ARRAY_KINDS:
        raise _Refused(f"arrays of {dtype} are not stored")
    # A writable copy in native byte order, as the solver's inputs expect.
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(shape)


def _expect(data: Any, kind: type | tuple[type, ...], step: str = "") -> Any:
    if not isinstance(data, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        refused = _Refused(f"expected {names}, got {type(data).__name__}")
        raise refused.at(step) if step else refused
    return data
