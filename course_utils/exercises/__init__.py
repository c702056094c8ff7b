"""Exercise checks, one module per notebook topic, built on `course_utils.checks`."""
