"""`python -m gankit ...` is the same as the `gankit` console script."""
from .cli import entry

entry()
