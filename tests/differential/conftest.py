# Loads the hypothesis profile of this run (see budget.py) before any test is collected.
import budget  # noqa: F401
