"""Settings read from the environment, each refused by the variable's name (``ConfigError``).

Secrets come from the environment or from files the environment names, never from arguments
(visible in ``ps``) or the code: ``NAME`` itself, or ``NAME_FILE`` holding it (a Kubernetes or
Docker secret mounted as a file). Every secret read here is registered with ``dispatch.logs`` so
that no log line can carry it. Numbers are read by ``read_number``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dispatch.errors import ConfigError
from dispatch.logs import redact


def read_secret(env: Mapping[str, str], name: str) -> str:
    """The value of ``name``, or the content of the file ``name_FILE`` names (surrounding
    whitespace dropped); ``""`` when neither is set.

    Raises
    ------
    ConfigError
        Both are set, or the file cannot be read (the message names the variable, not the value).
    """
    value, path = env.get(name, ""), env.get(f"{name}_FILE", "")
    if value and path:
        raise ConfigError(f"{name} and {name}_FILE are both set: use one")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path!r} ({type(exc).__name__})") from None
        if not value:
            raise ConfigError(f"{name}_FILE: {path!r} is empty")
    redact(value)
    return value


def read_file(env: Mapping[str, str], name: str) -> bytes | None:
    """The bytes of the file the variable ``name`` names (a certificate, a key), ``None`` if unset.

    Raises
    ------
    ConfigError
        The file cannot be read.
    """
    path = env.get(name, "")
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path!r} ({exc.strerror or type(exc).__name__})") from None


def read_number(
    env: Mapping[str, str], name: str, kind: type, *, low: float = 0.0, above: bool = False, high: float | None = None
) -> Any:
    """The ``kind`` (``int`` or ``float``) the variable ``name`` holds, ``None`` when unset or empty.

    Raises
    ------
    ConfigError
        Not a number of that kind, or below ``low`` (at or below it when ``above``; NaN too), or
        above ``high``.
    """
    raw = env.get(name, "")
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: not {'an integer' if kind is int else 'a number'}") from None
    if above and not value > low:
        raise ConfigError(
            f"{name}={raw!r}: must be positive" if low == 0 else f"{name}={raw!r}: must be more than {low:g}"
        )
    if not value >= low:
        raise ConfigError(f"{name}={raw!r}: must be at least {low:g}")
    if high is not None and value > high:
        raise ConfigError(f"{name}={raw!r}: must be at most {high:g}")
    return value
