"""Differential property tests: random programs, run on ours and on the reference,
their traces compared, and any difference shrunk by hypothesis to a minimal program.

Two budgets. ``make test`` loads the profile ``differential``: few examples, derived
from each test's name (``derandomize``), so CI sees the same programs every run and a
failure there reproduces by running the test again. ``make fuzz`` loads ``fuzz``: many
more examples from a random seed, which it prints first and which ``make fuzz SEED=N``
gives back. Either way a failure prints the minimal program and the
``@reproduce_failure`` blob that replays it.

A test asks for its budget with ``@examples(n)``: n examples in ``make test``,
``FUZZ_FACTOR`` times as many under ``make fuzz``.
"""
import os

from hypothesis import HealthCheck, settings

FUZZ_FACTOR = 40

settings.register_profile(
    "differential", deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "fuzz", deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("SWITCHYARD_HYPOTHESIS_PROFILE", "differential")
settings.load_profile(PROFILE)


def examples(n):
    """The settings of a test that runs n examples in `make test`."""
    return settings(max_examples=n * FUZZ_FACTOR if PROFILE == "fuzz" else n)
