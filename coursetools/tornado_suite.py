"""tornado 6's own test suite, run on our asyncio loop beside asyncio's own.

    python -m coursetools.tornado_suite                     # every module on both loops
    python -m coursetools.tornado_suite --columns selector --modules ioloop_test,gen_test
    python -m coursetools.tornado_suite --columns mypkg.myloop   # any module with a policy
    python -m coursetools.tornado_suite --draft --columns selector  # EXPECTED, to paste

The tornado wheel ships its tests (``tornado.test``); ``tornado.test.runtests`` runs them
all in one process. tornado 6 has no loop of its own: ``IOLoop()`` wraps
``asyncio.new_event_loop()``, so the event loop policy chooses the loop. Here each module
of runtests' list runs in a fresh process, with the column's policy installed (and
assigned to ``asyncio.DefaultEventLoopPolicy``, as in `coursetools.asyncio_suite`, whose
columns and draft these are), under the rules runtests sets:

- warnings are errors, except the ones runtests lets through (deprecations and import
  warnings from outside tornado);
- tornado's logging is on, as ``tornado.testing.main`` turns it on, and the run must log
  nothing (a test that expects a message catches it with ``ExpectLog``): whatever is
  logged at INFO or above, or written to stderr, is counted, and a module that logs
  anything fails one more test, ``LOGGED``, with what was written (it passes in a
  module that logs nothing).

The rest is `upstream_suite.Suite`: a fresh interpreter per (module, column), every
test's outcome to JSON, hangs and crashes, the time limits, the command line and the
table. ``EXPECTED`` says which tests fail on our loop and why; asyncio's loop passes them
all. ``tests/test_tornado_suite.py`` asserts it once per pair.
"""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import warnings
from pathlib import Path

from coursetools import asyncio_suite, upstream_suite
from coursetools.upstream_suite import Expect

TIMEOUT = 180.0  # seconds one module may take on one column (web_test: about 10 on asyncio)
TEST_TIMEOUT = 30.0  # seconds one test may take before it counts as hung (tornado's
# own tests wait 5 at most)
COLUMNS = asyncio_suite.COLUMNS  # ours, and asyncio's own loop
LOGGED = "LOGGED (runtests: the tests must log nothing)"  # the test id of that rule

# tornado.test.runtests.TEST_MODULES (tests/test_tornado_suite.py checks it), without
# "tornado.test."; the doctests of three modules keep their "tornado." name's rest.
MODULES = [
    "httputil.doctests",
    "iostream.doctests",
    "util.doctests",
    "api_test",
    "asyncio_test",
    "auth_test",
    "autoreload_test",
    "circlerefs_test",
    "concurrent_test",
    "curl_httpclient_test",
    "escape_test",
    "gen_test",
    "http1connection_test",
    "httpclient_test",
    "httpserver_test",
    "httputil_test",
    "import_test",
    "ioloop_test",
    "iostream_test",
    "locale_test",
    "locks_test",
    "netutil_test",
    "log_test",
    "options_test",
    "process_test",
    "property_test",
    "queues_test",
    "routing_test",
    "security_corpus_test",
    "simple_httpclient_test",
    "tcpclient_test",
    "tcpserver_test",
    "template_test",
    "testing_test",
    "twisted_test",
    "util_test",
    "web_test",
    "websocket_test",
    "wsgi_test",
]


def full_name(module):
    """The module's name in runtests' list."""
    return f"tornado.{module}" if "." in module else f"tornado.test.{module}"


# ---- What must happen: the tests our loop fails, and why
# The test ids are unittest's, without the module: "Class.test_method".

OURS = {  # module -> test id -> reason
}

# Tests that time a request with a short deadline: on a loaded machine (the whole
# suite on two cores) they may miss it, on either loop; run again alone, they pass.
TIMING = {
    "simple_httpclient_test": {
        "SimpleHTTPSClientTestCase.test_request_timeout":
            "a 0.1 s request timeout; seen failing on asyncio's loop under load",
    },
}

EXPECTED = {module: {"selector": Expect(fails=OURS.get(module, {}), flaky=TIMING.get(module, {})),
                     "asyncio": Expect(flaky=TIMING.get(module, {}))}
            for module in MODULES}  # module -> column -> Expect


# ---- One module on one column, in a fresh process


class CountingStderr(io.IOBase):
    """sys.stderr, keeping what is written to it (runtests counts it); an IOBase for
    writelines (WSGI's wsgi.errors is sys.stderr); faulthandler writes a hung test's
    stacks past it, to the file descriptor."""

    def __init__(self, real):
        super().__init__()
        self.real, self.written = real, []

    def write(self, data):
        self.written.append(data)
        return self.real.write(data)

    def flush(self):
        return self.real.flush()

    def fileno(self):
        return self.real.fileno()


class LogCounter(logging.Filter):
    """Counts the records of INFO and above that reach the root logger's handler."""

    count = 0

    def filter(self, record):
        self.count += record.levelno >= logging.INFO
        return True


def strict_warnings():
    """runtests' warning filters: every warning is an error, except import warnings and
    deprecations from outside tornado (the last filter added wins)."""
    warnings.filterwarnings("error")
    warnings.filterwarnings("ignore", category=ImportWarning)
    for category in (DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("error", category=category, module=r"tornado\..*")


def child(module, result_path, tests):
    """In the child: the column's policy, runtests' rules, then the module's tests, and
    LOGGED among them if anything was logged."""
    target = os.environ[asyncio_suite.COLUMN_VARIABLE]
    policy_class, _, _ = asyncio_suite.column_classes(target)
    asyncio_suite.install_policy(policy_class)
    strict_warnings()
    logging.getLogger("tornado.access").setLevel(logging.CRITICAL)  # as runtests does
    stderr = sys.stderr = CountingStderr(sys.stderr)
    import tornado.options
    tornado.options.parse_command_line([module])  # tornado's logging, to the new stderr
    counter = LogCounter()
    logging.getLogger().handlers[0].addFilter(counter)
    status = upstream_suite.run_tests(full_name(module), result_path, tests, TEST_TIMEOUT)
    _record(result_path, f"{counter.count} records of INFO and above; stderr got:\n"
            + upstream_suite.tail("".join(stderr.written), 40)
            if counter.count or stderr.written else None)
    return status


def _record(result_path, error):
    """LOGGED in a child's finished result file: passed, or an error with its text."""
    path = Path(result_path)
    outcome = json.loads(path.read_text())
    if error is None:
        outcome["passed"].append(LOGGED)
    else:
        outcome["errors"][LOGGED] = error
    outcome["finished"].append(LOGGED)
    path.write_text(json.dumps(outcome))


SUITE = upstream_suite.Suite(
    command=__spec__.name, doc=__doc__, columns=COLUMNS, modules=MODULES,
    expected=EXPECTED, timeout=TIMEOUT,
    module_of=lambda target: target,
    environment=asyncio_suite.environment, child=child,
    option="columns",
    option_help=f"comma-separated, from {', '.join(COLUMNS)} or modules as package.module "
                "with an EventLoopPolicy (default: both)",
    other="a module as package.module",
    column="column",
    modules_named="modules of tornado.test.runtests (without 'tornado.test.')",
    modules_are="tornado.test.runtests runs",
    told=f"with the column's policy installed ({asyncio_suite.COLUMN_VARIABLE})",
)


if __name__ == "__main__":
    sys.exit(asyncio_suite.main(SUITE))
