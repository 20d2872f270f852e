"""``import greenlet`` in greenlet's own tests, run by ``coursetools.greenlet_suite``.

That runner puts the folder above this package first on ``PYTHONPATH``, so that greenlet's
test modules (copied from the installed wheel), and the scripts they start, import this
package where they ask for greenlet. It is the implementation named by
``SWITCHYARD_GREENLET`` under greenlet's names: see ``_greenlet.py``, which does the work,
as greenlet's own ``__init__.py`` re-exports its compiled ``_greenlet``.
"""
from . import _greenlet
from ._greenlet import (  # noqa: F401 (greenlet's names)
    GREENLET_USE_CONTEXT_VARS, GREENLET_USE_GC, GREENLET_USE_TRACING, GreenletExit, error,
    getcurrent, gettrace, greenlet, settrace)

__all__ = ["GreenletExit", "error", "getcurrent", "greenlet", "gettrace", "settrace"]
__version__ = getattr(_greenlet.IMPLEMENTATION, "__version__", "0+" + _greenlet.TARGET)


def __getattr__(name):
    """Whatever else the implementation has (the real greenlet's ``_C_API`` capsule, which
    its C test extensions import as ``greenlet._C_API``)."""
    return getattr(_greenlet.IMPLEMENTATION, name)
