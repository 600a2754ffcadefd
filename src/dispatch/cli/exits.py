"""The ``dispatch`` command's exit codes, in one table (as the gRPC codes are in
``dispatch.server.errors``): 0 planned / feasible; 1 infrastructure failure (server unreachable,
worker died, deadline); 2 invalid input (every bad field printed) or unusable settings."""

from __future__ import annotations

from dispatch.errors import ConfigError, DispatchError, OverrideError, ProblemError

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2


class CliError(Exception):
    def __init__(self, code: int, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.code = code
        self.lines = lines


def exit_for(exc: Exception) -> tuple[int, list[str]]:
    """The exit code and the lines to print for an error a command let through."""
    if isinstance(exc, CliError):
        return exc.code, exc.lines
    if isinstance(exc, ProblemError):
        return EXIT_INVALID, ["invalid request:", *(f"  {v}" for v in exc.violations)]
    if isinstance(exc, OverrideError):  # a dispatcher's assign the day cannot honour
        return EXIT_INVALID, ["override refused:", *(f"  {v}" for v in exc.violations)]
    if isinstance(exc, ConfigError):  # the environment: named, never a secret's value
        return EXIT_INVALID, [str(exc)]
    if isinstance(exc, DispatchError):
        return EXIT_FAILURE, [str(exc)]
    raise exc


#: What ``main`` turns into an exit code (anything else is a bug, with its traceback).
HANDLED = (CliError, ProblemError, ConfigError, DispatchError)
