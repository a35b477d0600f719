"""`python -m mlops_components.cli` runs the `mlops` command."""

from mlops_components.cli.main import run

run()
