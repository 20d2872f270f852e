"""The standard library's own tests, run under our monkey patch beside gevent's.

    python -m coursetools.stdlib_suite                     # every module, both columns
    python -m coursetools.stdlib_suite --runtimes stackswitch_core --modules test_queue
    python -m coursetools.stdlib_suite --runtimes mypkg.rt:mine    # any runtime with .monkey
    python -m coursetools.stdlib_suite --draft --runtimes stackswitch_core   # to paste

gevent checks its monkey patch with CPython's own tests (``gevent.testing.monkey_test``):
a stdlib test module runs after ``patch_all()``, so that every socket, lock, thread and
sleep in it is the cooperative one, minus a list of tests gevent disables, each with a
reason in its source (``gevent.testing.patched_tests_setup``). This runner does the same
for two columns in one run:

- ``stackswitch_core``: our full stack, our stack-switching greenlet on our Cython libev
  loop under our hub, patched by ``runtimes.stackswitch_core.monkey.patch_all()``;
- ``gevent``: ``gevent.monkey.patch_all()``, the reference.

Each (module, column) runs in a fresh interpreter that patches first, then prepares
CPython's test helpers the way gevent's runner does (`prepare_test_support`), imports
the test module, skips gevent's disabled tests in both columns (`disable`), and runs it
under `upstream_suite`'s recorder. What differs from gevent's runner: the tests are
CPython's installed ``test`` package (gevent runs copies kept in its source tree, not
in the wheel), its ``test.lock_tests`` too (gevent swaps in its own copy, which imports
gevent's test package, and so gevent, into our column), and the few tests that leave
the machine (for the internet, or a hypervisor) are skipped.

Where the Python installation has no ``test`` package (Debian and Ubuntu ship it apart,
in ``libpython3.X-testsuite``), every pair is "unavailable", with the import error; so
is our column where its Cython extensions are not built. ``EXPECTED`` says which tests
fail on each column and why; ``tests/test_stdlib_suite.py`` asserts it once per pair.
``--draft`` prints, instead of the table, every test that broke, in EXPECTED's form.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import subprocess
import sys
import unittest

from coursetools import upstream_suite
from coursetools.upstream_suite import Expect

PACKAGE = "test"  # CPython's tests, where the installation has them
TIMEOUT = 300.0  # seconds one module may take on one column
TEST_TIMEOUT = 20.0  # seconds one test may take before it counts as hung (at most 3 s pass)
COLUMN_VARIABLE = "SWITCHYARD_STDLIB_PATCH"  # tells the child what patches
SKIPPED_VARIABLE = "SWITCHYARD_STDLIB_SKIPPED"  # tells the child `skipped()`, as JSON

# name -> what patches: a runtime as package.module:Object, whose .monkey.patch_all()
# does it, or a module with patch_all() itself, as package.module.
COLUMNS = {
    "stackswitch_core": "impls.hub.runtimes:stackswitch_core",  # ours, whole
    "gevent": "gevent.monkey",  # the reference
}
# What must import for a column to run, else it is "unavailable": ours needs both Cython
# extensions, which a machine without libev's headers (or the CPU the stack switch
# supports) does not build. Any other target needs its own module.
NEEDS = {COLUMNS["stackswitch_core"]:
         "impls.greenlet.stackswitch, impls.libev.core, impls.hub.monkey"}

# CPython's test modules, as the issue lists them: the servers and clients of the
# stdlib over patched sockets, selectors over patched select, queue and threading
# over patched locks and threads.
MODULES = [
    "test_socketserver",
    "test_httplib",
    "test_urllib2_localnet",
    "test_selectors",
    "test_queue",
    "test_threading",
    "test_socket",
]


# ---- What must happen: the tests each column fails, and why
# The test ids are unittest's, without the module: "Class.test_method". Measured on
# CPython 3.11 (the CI's Python), whose test package these are.

PTHREAD_KILL = (
    "threading.get_ident() is the current greenlet's identity under the patch (an id(), "
    "as gevent's), and the test hands the main thread's to signal.pthread_kill, which "
    "takes it for a pthread_t: undefined behaviour, on an address that holds a greenlet. "
    "{outcome}")
OWN_CLASSES = (
    "once patched, threading.Lock and threading.Event are the runtime's own classes "
    "(gevent's, ours), with their own repr and no Condition in a _cond attribute, which "
    "the test looks for; gevent's runner swaps in its own copy of test.lock_tests, "
    "which has no such test")
NONBLOCKING_FD = (
    "a cooperative socket keeps its file descriptor non-blocking whatever its timeout "
    "(a blocked call waits in the hub, not in the kernel), and the test checks that "
    "O_NONBLOCK is off on a blocking socket; gevent disables testSetBlocking, whose "
    "overflow variant this is, for the same reason")

SAME_FOR_BOTH = {  # module -> test id -> reason, on both columns
    "test_threading": {test: OWN_CLASSES for test in [
        "EventTests.test_repr", "EventTests.test_at_fork_reinit",
        "LockTests.test_repr", "LockTests.test_locked_repr"]},
    "test_socket": {"NonBlockingTCPTests.testSetBlocking_overflow": NONBLOCKING_FD,
                    "SendfileUsingSendfileTest.testWithTimeoutTriggeredSend":
                        "neither socket uses os.sendfile (each _sendfile_use_sendfile gives "
                        "up, and the stdlib's send loop does the work), where the test "
                        "expects a TimeoutError from it; gevent disables the other tests "
                        "of this class for that reason"},
}
GEVENT = {
    "test_socketserver": {"SocketWriterTest.test_write": PTHREAD_KILL.format(
        outcome="glibc answers EINVAL: the client fails, and the server never sends")},
}
DUMMY_THREAD_GONE = (
    "a thread started with _thread.start_new_thread is a greenlet under the patch; the "
    "_DummyThread that current_thread() made for it leaves threading._active as soon as "
    "the greenlet is freed (so its threading.local data goes with it), where the stdlib "
    "keeps it for ever and gevent drops it a turn of the loop later, after the test has "
    "looked")
NO_SSL_PATCH = (
    "ours does not patch ssl (patch_all accepts ssl=True and leaves it, as its docstring "
    "and the monkey chapter say): the stdlib's SSLSocket, made over our socket class, "
    "cannot wrap it (TypeError: _wrap_socket() argument 'sock' must be _socket.socket); "
    "gevent patches ssl with a cooperative SSLSocket of its own")
OURS = {  # module -> test id -> reason, on our column only
    "test_threading": {"ThreadTests.test_foreign_thread": DUMMY_THREAD_GONE,
                       "ThreadTests.test_ident_of_no_threading_threads": DUMMY_THREAD_GONE},
    "test_urllib2_localnet": {test: NO_SSL_PATCH for test in [
        "TestUrlopen.test_https", "TestUrlopen.test_https_sni",
        "TestUrlopen.test_https_with_cadefault", "TestUrlopen.test_https_with_cafile"]},
}
OURS_HANG = {
    "test_socketserver": {"SocketWriterTest.test_write": PTHREAD_KILL.format(
        outcome="under ours, glibc waits on that memory as a thread's lock, for ever")},
}


GEVENT_FLAKY = {
    "test_socketserver": {"ErrorHandlerTest.test_forking_handled":
        "forks a server child while gevent's hub runs; in one `make test-without-"
        "extensions` on a loaded 2-core machine the child hung past the 20 s limit, on "
        "gevent itself (ours is not involved); run alone it passes"},
}


def expected(module):
    """A row of EXPECTED: the failures both columns share, and each one's own."""
    both = SAME_FOR_BOTH.get(module, {})
    return {"stackswitch_core": Expect(fails={**both, **OURS.get(module, {})},
                                       hangs=OURS_HANG.get(module, {})),
            "gevent": Expect(fails={**both, **GEVENT.get(module, {})},
                             flaky=GEVENT_FLAKY.get(module, {}))}


EXPECTED = {module: expected(module) for module in MODULES}  # module -> column -> Expect


# ---- The tests that do not run: gevent's list, and the ones that leave this machine

# CPython's "network" resource is on (test_socketserver asks for it to open sockets on
# 127.0.0.1), and it also lets these tests reach hosts on the internet; and a VSOCK
# socket talks to the hypervisor: on a virtual machine whose /dev/vsock leads to its
# host (Firecracker's, say) the test's connection leaves the machine and never
# completes. They are skipped in both columns: the suite never leaves the machine.
INTERNET = "reaches the internet (python.org); the suite never leaves this machine"
VSOCK = ("connects a VSOCK socket, which leads to the hypervisor on a virtual machine; "
         "the suite never leaves this machine")
OFF_THE_MACHINE = {
    **{test: INTERNET for test in [
        "test_httplib.HTTPSTest.test_networked",
        "test_httplib.HTTPSTest.test_networked_noverification",
        "test_httplib.HTTPSTest.test_networked_trusted_by_default_cert",
        "test_httplib.HTTPSTest.test_networked_good_cert",
        "test_httplib.HTTPSTest.test_networked_bad_cert",
        "test_socket.GeneralModuleTests.test_idna",
    ]},
    "test_socket.ThreadedVSOCKSocketStreamTest": VSOCK,
}


@functools.cache
def gevent_disabled():
    """The entries of gevent's ``disabled_tests`` for MODULES, as gevent computes them for
    this machine and Python ("test_queue.CQueueTest", "test_socket.Class.test_name").
    Read in an interpreter of its own: importing ``gevent.testing`` sets gevent's default
    hub class for the whole process, and this one may be running gevent's tests."""
    code = ("import json; from gevent.testing import patched_tests_setup as setup; "
            "print(json.dumps(sorted(set(setup.disabled_tests))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=upstream_suite.ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return [test for test in json.loads(done.stdout) if test.split(".")[0] in MODULES]


def skipped():
    """Every test that does not run, in both columns -> why."""
    return {**{test: f"disabled by gevent's patched_tests_setup: {test}"
               for test in gevent_disabled()}, **OFF_THE_MACHINE}


def disable(module, tests):
    """Skip in ``module`` what gevent's runner removes from its source, for the reasons
    given ({"test_queue.CQueueTest": why, ...}): a class named, whole; for
    "module.Class.test_x", every ``test_x`` the module itself defines, in any of its
    classes (gevent matches the name alone, by a regular expression over the source)."""
    name = module.__name__.rpartition(".")[2]
    classes = [cls for cls in vars(module).values()
               if isinstance(cls, type) and cls.__module__ == module.__name__]
    for test, reason in tests.items():
        test_module, _, rest = test.partition(".")
        if test_module != name:
            continue
        class_name, _, method = rest.partition(".")
        for cls in classes:
            if not method and cls.__name__ == class_name:
                unittest.skip(reason)(cls)
            elif method and method in vars(cls):
                setattr(cls, method, unittest.skip(reason)(vars(cls)[method]))


# ---- One module on one column, in a fresh process


def patch_all(target):
    """Patch the stdlib as the column does (see COLUMNS)."""
    module, _, name = target.partition(":")
    monkey = importlib.import_module(module)
    if name:
        monkey = getattr(monkey, name).monkey
    monkey.patch_all()


def prepare_test_support():
    """CPython's test helpers, set as gevent's ``monkey_test`` sets them, in both columns.

    They count threads with ``_thread._count()``, which counts OS threads, not patched
    ones, and wait for the count to come back (seconds per test); they import "fresh"
    copies of modules, which would not be the patched ones. Verbose output is off, and
    every resource is on, as gevent has them (OFF_THE_MACHINE names the tests that
    would use the "network" one beyond this machine)."""
    from test import support
    from test.libregrtest.cmdline import ALL_RESOURCES
    from test.support import import_helper, threading_helper

    threading_helper.threading_setup = lambda: (1, ())
    threading_helper.threading_cleanup = lambda *counts: None
    threading_helper.wait_threads_exit = contextlib.nullcontext  # takes the timeout, unused
    support.print_warning = lambda message: None
    import_helper.import_fresh_module = lambda name, *args, **kwargs: \
        importlib.import_module(name)
    support.verbose = 0
    support.use_resources = list(ALL_RESOURCES)


def environment(target, folder):
    """The child's environment: what patches, the tests to skip, and the settings
    of gevent's runner for these modules (warnings ignored, the fault handler on). The
    folder stays empty."""
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)  # the child imports coursetools from the repository
    env.setdefault("PYTHONFAULTHANDLER", "1")
    env["PYTHONWARNINGS"] = "ignore"
    env[COLUMN_VARIABLE] = target
    env[SKIPPED_VARIABLE] = json.dumps(skipped())
    return env


def load(module):
    """In the child: patch first, then prepare the test helpers, import the test module
    and skip in it what `skipped` says. Return the module."""
    patch_all(os.environ[COLUMN_VARIABLE])
    prepare_test_support()
    loaded = importlib.import_module(f"{PACKAGE}.{module}")
    disable(loaded, json.loads(os.environ[SKIPPED_VARIABLE]))
    return loaded


def child(module, result_path, tests):
    """In the child: `load` the module, then run and record its tests."""
    name = load(module).__name__
    return upstream_suite.run_tests(name, result_path, tests, TEST_TIMEOUT)


SUITE = upstream_suite.Suite(
    command=__spec__.name, doc=__doc__, columns=COLUMNS, modules=MODULES,
    expected=EXPECTED, timeout=TIMEOUT,
    # both must import: what the column needs and CPython's tests (Debian ships them
    # apart from test.support, so a module of them is asked for)
    module_of=lambda target: f"{NEEDS.get(target, target.partition(':')[0])}, "
                             f"{PACKAGE}.{MODULES[0]}",
    environment=environment, child=child,
    option="runtimes",
    option_help=f"comma-separated, from {', '.join(COLUMNS)}, or a runtime as "
                "package.module:Object (its .monkey.patch_all() patches) (default: both)",
    other="a runtime as package.module:Object",
    column="runtime",
    modules_named="modules of CPython's test package",
    modules_are="run under a monkey patch",
    told="patched by its runtime's patch_all() first",
)


def main(argv=None):
    """SUITE's command line, and asyncio_suite's ``--draft``: that module is imported in
    the parent only, since it imports asyncio, and so ssl and socket, which the child
    must patch before anything else imports them."""
    argv = sys.argv[1:] if argv is None else argv
    if "--child" in argv:
        return SUITE.main(argv)
    from coursetools import asyncio_suite

    return asyncio_suite.main(SUITE, argv)


if __name__ == "__main__":
    sys.exit(main())
