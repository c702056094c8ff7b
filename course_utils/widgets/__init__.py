"""Interactive figures, one module per notebook; see `explorer.py` for the convention."""

from course_utils.widgets.explorer import Explorer

__all__ = ["Explorer"]
