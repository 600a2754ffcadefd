"""Secrets come from the environment or from files the environment names, never from arguments
(visible in ``ps``) or the code: ``NAME`` itself, or ``NAME_FILE`` holding it (a Kubernetes or
Docker secret mounted as a file). Every secret read here is registered with ``dispatch.logs`` so
that no log line can carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

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
