"""The codec's only ``exec``: a dataclass's encoder and decoder as straight-line code.

Why: a stored day holds thousands of small objects, and a re-plan or cancellation loads and
stores the whole day inside a latency budget of 50-100 ms. Compiling each type's codec once,
with each dataclass's as one generated expression naming its fields (as ``dataclasses`` compiles
``__init__``), took ``dumps``/``loads`` of a 25-technician, 250-job day from 27/28 ms to
4.7/4.5 ms; a loop over the fields instead costs about twice as much per object.

Why it is safe: ``source`` is built by ``_encode``/``_decode`` only from the field names of
dataclasses, i.e. identifiers from the project's own class definitions (each written with
``repr``, or as an attribute name the class declared), and from fixed text. Values, JSON data and
anything read from a store or a request never reach it: they are the arguments of the compiled
function, which reads them as data. Every other name the code uses comes from ``namespace``.
Which classes are compiled is decided by code (the class a caller asks for, and the type hints
of its fields); a record's ``"type"`` tag only picks among a union's already-declared members.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from dispatch.codec._base import Codec


def define(cls: type, name: str, source: str, namespace: dict[str, Any]) -> Codec:
    """The function ``name`` that ``source`` defines, with ``namespace`` as its globals.

    Only field names (identifiers, from class definitions) go into ``source``, never data.
    """
    exec(compile(source, f"<dispatch.codec {name} {cls.__qualname__}>", "exec"), namespace)
    return typing.cast(Codec, namespace[name])


def on_first_use(compile_for: Callable[[type], Codec], cls: type) -> Codec:
    """``cls``'s codec, compiled by ``compile_for`` when first called, so that a dataclass may
    refer to itself (its codec exists before its fields' codecs are worked out)."""
    compiled: Codec | None = None

    def run(data: Any) -> Any:
        nonlocal compiled
        if compiled is None:
            compiled = compile_for(cls)
        return compiled(data)

    return run
