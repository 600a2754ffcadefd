"""dispatch: route optimisation and dispatch for home-services crews.

The layers, and the job of each package, are in the README's "Architecture" section (checked by
``lint-imports``).
"""

__version__ = "0.1.0"
