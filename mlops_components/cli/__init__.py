"""`mlops`: the operator's command line, a thin layer over the functions the components use."""

from mlops_components.cli.main import main, run

__all__ = ["main", "run"]
