"""dispatch: route optimisation and dispatch for home-services crews.

Layers (see ``../shared/DESIGN.md``): ``domain`` -> ``validate`` -> ``matrix`` ->
``solver`` (OR-Tools, in worker processes) -> ``check`` (independent) ->
``service`` -> ``server`` (gRPC) and ``cli``.
"""

__version__ = "0.1.0"
