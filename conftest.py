"""pytest at the repository root: the template is a skeleton to copy, not a lesson to execute."""

collect_ignore_glob = ["notebooks/_template.ipynb", "build/*"]
