"""What the hub's conformance modules share: each test bounded in time.

A module asks for it with ``pytestmark = pytest.mark.usefixtures("bounded")``.
"""
import pytest

LIMIT = 10  # seconds any one test may spend blocked


@pytest.fixture
def bounded(hub):
    """Raise a Timeout in a test that blocks for more than LIMIT seconds. The timer is
    unreferenced (ref=False), so that it does not itself keep the loop running (which
    would hide a LoopExit)."""
    with hub.Timeout(LIMIT, None, False):
        yield
