"""Studies: `gankit experiment` (experiment.py: grids of runs, their tables), the declared studies (studies.py,
registered on import of this package), their figures (plots.py), and the HTML pages and plots of runs (report.py,
plot.py)."""
from . import recipe_studies, studies  # noqa: F401  (register the declared experiments in experiment.EXPERIMENTS)
