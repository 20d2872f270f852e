"""``greenlet._greenlet``, as greenlet's tests use it: the implementation under test, plus
the two helpers the tests' ``__init__.py`` imports from here.

``SWITCHYARD_GREENLET`` names the implementation as ``package.module[:Object]``, as
``pytest --impl`` does: ``impls.greenlet.threaded``, ``impls.greenlet.stackswitch``, or
``greenlet._greenlet``, the real greenlet's compiled module. This package hides the real
greenlet, so that one is loaded from the installed wheel's files under another name,
``greenlet_reference``: the same code, reached the same way as ours.

The helpers, ``get_pending_cleanup_count`` and ``get_total_main_greenlets``, are the
implementation's own if it has them (the real greenlet does); otherwise the stand-ins
below. The tests call them only in ``TestCase.wait_for_pending_cleanups`` (in setUp and
tearDown), to decide how long to wait for exited threads' greenlets to go; no test
asserts on them.
"""
import gc
import importlib
import importlib.machinery
import importlib.util
import os
import sys

TARGET = os.environ["SWITCHYARD_GREENLET"]


def _installed(module):
    """Module "greenlet" or "greenlet.x" of the installed greenlet, which this package
    hides, imported as "greenlet_reference" or "greenlet_reference.x"."""
    if "greenlet_reference" not in sys.modules:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
        found = importlib.machinery.PathFinder.find_spec("greenlet", path)
        spec = importlib.util.spec_from_file_location(
            "greenlet_reference", found.origin,
            submodule_search_locations=found.submodule_search_locations)
        package = importlib.util.module_from_spec(spec)
        sys.modules["greenlet_reference"] = package
        # its __init__ imports greenlet_reference._greenlet: greenlet's extension, whose
        # init function (PyInit__greenlet) is found by the last part of the name
        spec.loader.exec_module(package)
    return importlib.import_module("greenlet_reference" + module.removeprefix("greenlet"))


def _load(target):
    module, _, attribute = target.partition(":")
    if module == "greenlet" or module.startswith("greenlet."):
        namespace = _installed(module)
    else:
        namespace = importlib.import_module(module)
    return getattr(namespace, attribute) if attribute else namespace


IMPLEMENTATION = _load(TARGET)

# greenlet's API: the implementation must have all of it
greenlet = IMPLEMENTATION.greenlet
getcurrent = IMPLEMENTATION.getcurrent
GreenletExit = IMPLEMENTATION.GreenletExit
error = IMPLEMENTATION.error
settrace = IMPLEMENTATION.settrace
gettrace = IMPLEMENTATION.gettrace

# Constants that say which features are built in; always true since greenlet 1.0, and
# true of ours: greenlets are collected, switches traced, contextvars per greenlet.
GREENLET_USE_GC = getattr(IMPLEMENTATION, "GREENLET_USE_GC", True)
GREENLET_USE_TRACING = getattr(IMPLEMENTATION, "GREENLET_USE_TRACING", True)
GREENLET_USE_CONTEXT_VARS = getattr(IMPLEMENTATION, "GREENLET_USE_CONTEXT_VARS", True)


def _pending_cleanup_count():
    """Stand-in: greenlet counts the thread states of exited threads queued for their
    greenlets to be freed. Ours keep no such queue to count; 0 makes the tests' wait loop
    wait on the thread count and the main-greenlet count alone."""
    return 0


def _total_main_greenlets():
    """Stand-in: greenlet counts the main greenlets allocated and not yet freed, one per
    thread that has used greenlets. Here: the main greenlets (no parent) the collector
    tracks, after a collection, so that unreachable ones are not counted."""
    gc.collect()
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, greenlet) and obj.parent is None)


get_pending_cleanup_count = getattr(IMPLEMENTATION, "get_pending_cleanup_count",
                                    _pending_cleanup_count)
get_total_main_greenlets = getattr(IMPLEMENTATION, "get_total_main_greenlets",
                                   _total_main_greenlets)


def __getattr__(name):
    """Whatever else the implementation has (the real greenlet's UnswitchableGreenlet, the
    test hook of TestBrokenGreenlets); an AttributeError names the implementation."""
    try:
        return getattr(IMPLEMENTATION, name)
    except AttributeError:
        raise AttributeError(f"greenlet._greenlet (here {TARGET}) has no attribute "
                             f"{name!r}") from None
