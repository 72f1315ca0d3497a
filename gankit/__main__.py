"""`python -m gankit ...` is the same as the `gankit` console script."""
import sys

from .cli import main

sys.exit(main())
