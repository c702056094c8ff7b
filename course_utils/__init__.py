"""course_utils: the shared, tested code behind "Deep Learning, one term at a time".

Notebooks import named things from the submodules, e.g. `from course_utils.optim import Adam`.
The two helpers every setup cell uses are re-exported here.
"""

from course_utils.repro import environment_line, get_device, set_seed

__all__ = ["environment_line", "get_device", "set_seed"]
__version__ = "0.1.0"
