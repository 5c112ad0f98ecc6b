"""`python -m generator.cli`: the same as the `obsctl` console script."""

from generator.cli import run

run()
