"""The ``dispatch`` command: ``serve``, ``notifier``, ``health``, ``solve``, ``reoptimize``,
``suggest``, ``validate``, ``show``, ``demo``. Exit codes: ``dispatch.cli.exits`` (0 planned,
1 infrastructure failure, 2 invalid input)."""

from dispatch.cli.commands import EXAMPLE_DAY
from dispatch.cli.parser import main

__all__ = ["EXAMPLE_DAY", "main"]
