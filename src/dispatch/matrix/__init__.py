"""Travel matrices: one interface, several providers."""

from dispatch.matrix.base import DayMatrix, MatrixProvider, day_matrix, problem_points
from dispatch.matrix.explicit import ExplicitProvider
from dispatch.matrix.great_circle import GreatCircleProvider

__all__ = [
    "DayMatrix",
    "ExplicitProvider",
    "GreatCircleProvider",
    "MatrixProvider",
    "day_matrix",
    "problem_points",
]
