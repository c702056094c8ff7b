"""Models used across the course, one module per family."""

from course_utils.models.mlp import make_mlp

__all__ = ["make_mlp"]
