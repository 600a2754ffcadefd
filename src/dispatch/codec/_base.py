"""What encoders and decoders share: the ``Codec`` type, refusals that name their path, and the
redo that finds the part at fault."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Codec = Callable[[Any], Any]


class Refused(Exception):
    """A value that cannot be encoded or decoded; its path is built on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.steps: list[str] = []  # innermost first

    def at(self, step: str) -> Refused:
        """This refusal, one step (``.name``, ``[3]``) further from the root."""
        self.steps.append(step)
        return self

    def __str__(self) -> str:
        return f"${''.join(reversed(self.steps))}: {self.message}"


def blame(refused: Refused, attempts: Iterable[tuple[str, Codec, Any]]) -> Refused:
    """``refused`` with the step of the first ``(step, codec, value)`` whose codec refuses its value.

    Codecs are pure, so redoing the parts of a refused value finds the part at fault; only the
    error path pays for it.
    """
    for step, codec, value in attempts:
        try:
            codec(value)
        except Refused:
            return refused.at(step)
    return refused


def same(value: Any) -> Any:
    """The codec of values stored as they are."""
    return value
