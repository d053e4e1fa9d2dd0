"""Studies: named grids of runs (the paper's tables and figures), expanded into planned runs."""

from tfbench.studies.spec import DEFAULT_SEEDS, Study, find_study, list_studies, load_study
from tfbench.studies.plan import PlannedRun, expand, parse_seeds, select_cells

__all__ = [
    "DEFAULT_SEEDS", "Study", "find_study", "list_studies", "load_study", "PlannedRun", "expand", "parse_seeds", "select_cells",
]
