"""CPython's own asyncio tests, run on our loop, Future and Task beside asyncio's own.

    python -m coursetools.asyncio_suite                   # every module on every column
    python -m coursetools.asyncio_suite --columns selector --modules test_locks,mixin_tasks
    python -m coursetools.asyncio_suite --columns mypkg.myloop     # any module with the API
    python -m coursetools.asyncio_suite --draft --columns selector  # EXPECTED, to paste

CPython ships its asyncio tests as ``test.test_asyncio`` (Debian and Ubuntu ship the
``test`` package separately, in ``libpython3.X-testsuite``; without it every pair is
"unavailable", with the import error). A column is a module with asyncio's names:
``EventLoopPolicy`` (``asyncio`` itself: ``DefaultEventLoopPolicy``), and ``Future`` and
``Task``, for which a module that has none (uvloop: ``--columns uvloop``) runs
asyncio's own. Two kinds of
test module run on it:

- the modules that take their loop from the event loop policy (``POLICY_MODULES``) run
  unchanged, with the column's policy installed, and also assigned to
  ``asyncio.DefaultEventLoopPolicy``: many modules reset the policy
  (``asyncio.set_event_loop_policy(None)`` in ``tearDownModule``, and some tests), after
  which asyncio builds a new ``DefaultEventLoopPolicy``, which must still be the column's;
- the mixins CPython writes for other loops and other Future and Task classes become the
  test classes of a module built in the child (``MIXINS``), from the column's loop
  factory or its Future and Task, as CPython's own modules build theirs for
  ``SelectorEventLoop`` or ``_PyFuture``/``_PyTask``.

The rest is `upstream_suite.Suite`, shared with ``gevent_suite`` and ``greenlet_suite``:
a fresh interpreter per (module, column), every test's outcome to JSON, a test that hangs
or kills the process counted as an error of that test, a time limit per module, the
command line and the table. ``EXPECTED`` says which tests fail on each column and why;
``tests/test_asyncio_suite.py`` asserts it once per pair. ``--draft`` runs the pairs and
prints, instead of the table, every test that broke, grouped by its error, in EXPECTED's
form: the start of a refresh (the reasons are to be written by hand).
"""
from __future__ import annotations

import asyncio
import importlib
import os
import sys
import types
import unittest

from coursetools import upstream_suite
from coursetools.upstream_suite import PASS, Expect

PACKAGE = "test.test_asyncio"  # CPython's asyncio tests, where the installation has them
TIMEOUT = 240.0  # seconds one module may take on one column (test_tasks: 16 on asyncio)
TEST_TIMEOUT = 60.0  # seconds one test may take before it counts as hung
COLUMN_VARIABLE = "SWITCHYARD_ASYNCIO"  # tells the child its column's module

# name -> the column's module: ours, and asyncio's own, the baseline. uvloop is not a
# column: test_utils.TestCase reads loop._default_executor, a private attribute of
# asyncio's BaseEventLoop that uvloop's Loop lacks, which breaks 400 of its tests on
# their way out; `--columns uvloop` still runs it, judged as a column that must pass all.
COLUMNS = {
    "selector": "impls.aio",  # ours: impls/aio/, the SelectorEventLoop
    "asyncio": "asyncio",
}

# The modules of test.test_asyncio whose tests take their loop from the policy
# (asyncio.new_event_loop, asyncio.run, IsolatedAsyncioTestCase). test_tasks and
# test_subprocess also run many tests on test_utils.TestLoop (asyncio's BaseEventLoop
# with a fake clock), which pass on every column alike.
POLICY_MODULES = [
    "test_locks",
    "test_queues",
    "test_streams",
    "test_taskgroups",
    "test_timeouts",
    "test_waitfor",
    "test_futures2",
    "test_threads",
    "test_context",
    "test_tasks",
    "test_subprocess",
]


# ---- The mixins, made into test modules for the column (in the child)


def task_classes(new_loop, future_class, task_class):
    """test_tasks' mixins for the column's Task and Future, as CPython builds
    PyTask_PyFuture_Tests, its subclass variant, and PyCurrentLoopTests."""
    from test.test_asyncio import test_tasks, utils

    class TaskTests(test_tasks.BaseTaskTests, test_tasks.SetMethodsTest, utils.TestCase):
        Task, Future = task_class, future_class

    @test_tasks.add_subclass_tests  # Task and Future become subclasses that count calls
    class TaskSubclassTests(test_tasks.BaseTaskTests, utils.TestCase):
        Task, Future = task_class, future_class

    class CurrentLoopTests(test_tasks.BaseCurrentLoopTests, utils.TestCase):
        current_task = staticmethod(asyncio.current_task)  # asked for from 3.12

        def new_task(self, coro):
            return task_class(coro, loop=self.loop)

    return [TaskTests, TaskSubclassTests, CurrentLoopTests]


def future_classes(new_loop, future_class, task_class):
    """test_futures' mixins for the column's Future, and for a subclass of it."""
    from test.test_asyncio import test_futures, utils

    class FutureTests(test_futures.BaseFutureTests, utils.TestCase):
        cls = future_class

    class SubFutureTests(test_futures.BaseFutureTests, utils.TestCase):
        cls = type("SubFuture", (future_class,), {})

    class FutureDoneCallbackTests(test_futures.BaseFutureDoneCallbackTests, utils.TestCase):
        def _new_future(self):
            return future_class(loop=self.loop)

    class FutureInheritanceTests(test_futures.BaseFutureInheritanceTests, utils.TestCase):
        def _get_future_cls(self):
            return future_class

    return [FutureTests, SubFutureTests, FutureDoneCallbackTests, FutureInheritanceTests]


def event_classes(new_loop, future_class, task_class):
    """test_events' loop tests, with subprocesses and a child watcher, as CPython builds
    SelectEventLoopTests on Unix."""
    from test.test_asyncio import test_events, utils

    class EventLoopTests(test_events.UnixEventLoopTestsMixin,
                         test_events.SubprocessTestsMixin, utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    return [EventLoopTests]


def sock_classes(new_loop, future_class, task_class):
    """test_sock_lowlevel's tests of the sock_* methods and connections on raw sockets."""
    from test.test_asyncio import test_sock_lowlevel, utils

    class SockTests(test_sock_lowlevel.BaseSockTestsMixin, utils.TestCase):
        def create_event_loop(self):
            return new_loop()

    return [SockTests]


def server_classes(new_loop, future_class, task_class):
    """test_server's tests of Server (serve_forever, start_serving, close), with the
    Unix-socket one that CPython writes for its selector loop only."""
    from test.test_asyncio import test_server

    class StartServerTests(test_server.BaseStartServer, unittest.TestCase):
        test_start_unix_server_1 = \
            test_server.SelectorStartServerTests.test_start_unix_server_1

        def new_loop(self):
            return new_loop()

    return [StartServerTests]


def buffered_proto_classes(new_loop, future_class, task_class):
    """test_buffered_proto's test of a BufferedProtocol over create_connection."""
    from test.test_asyncio import test_buffered_proto

    class BufferedProtocolTests(test_buffered_proto.BaseTestBufferedProtocol,
                                unittest.TestCase):
        def new_loop(self):
            return new_loop()

    return [BufferedProtocolTests]


MIXINS = {  # the module's name in the table -> what builds its test classes
    "mixin_tasks": task_classes,
    "mixin_futures": future_classes,
    "mixin_events": event_classes,
    "mixin_sock_lowlevel": sock_classes,
    "mixin_server": server_classes,
    "mixin_buffered_proto": buffered_proto_classes,
}

MODULES = POLICY_MODULES + list(MIXINS)


def mixin_module(name, new_loop, future_class, task_class):
    """The test module `name` of MIXINS for a column, put in sys.modules for unittest to
    load: its classes, renamed into it, so that test ids are "TaskTests.test_..."."""
    module = types.ModuleType(name, f"CPython's asyncio mixins, built by {__name__}")
    for cls in MIXINS[name](new_loop, future_class, task_class):
        cls.__module__, cls.__qualname__ = name, cls.__name__
        setattr(module, cls.__name__, cls)
    sys.modules[name] = module
    return module


# ---- What must happen: the tests each column fails, and why
# The test ids are unittest's, without the module: "Class.test_method".

# What the issue leaves out of our loop: each raises NotImplementedError, with a message
# that says so (chapters/asyncio.md lists them).
LEFT_OUT = "{what} are left out of our loop: {calls} raise NotImplementedError"
SUBPROCESSES = LEFT_OUT.format(what="subprocesses", calls="subprocess_exec/_shell")
PIPES = LEFT_OUT.format(what="pipes (and ptys through them)",
                        calls="connect_read_pipe/connect_write_pipe")
TLS = LEFT_OUT.format(what="TLS", calls="ssl= and start_tls")
DATAGRAMS = LEFT_OUT.format(what="datagrams (UDP)",
                            calls="create_datagram_endpoint/sock_sendto")
ASYNCIO_INTERNALS = (
    "the test replaces private parts of asyncio's own selector loop "
    "(asyncio.base_events.socket, loop._start_serving and loop._stop_serving) with mocks; "
    "ours has none of them, so it binds the test's made-up addresses for real (OSError) "
    "or lacks the method ({error})")


def failing(reason, tests, prefix=""):
    """{prefix + test: reason} for each test."""
    return {prefix + test: reason for test in tests}


# test_subprocess: the same tests in each class, one per child watcher
SUBPROCESS_TESTS = [
    "test_cancel_make_subprocess_transport_exec", "test_cancel_post_init",
    "test_cancel_process_wait", "test_close_dont_kill_finished", "test_close_kill_running",
    "test_communicate", "test_communicate_ignore_broken_pipe",
    "test_create_subprocess_exec_text_mode_fails", "test_create_subprocess_exec_with_path",
    "test_create_subprocess_shell_text_mode_fails", "test_devnull_error",
    "test_devnull_input", "test_devnull_output", "test_devstdin_input", "test_empty_input",
    "test_kill", "test_kill_issue43884", "test_pause_reading", "test_popen_error",
    "test_popen_error_with_stdin_pipe", "test_read_stdout_after_process_exit",
    "test_send_signal", "test_shell", "test_start_new_session", "test_stdin_broken_pipe",
    "test_stdin_not_inheritable", "test_stdin_stdout", "test_subprocess_communicate_stdout",
    "test_terminate",
]
if sys.version_info >= (3, 12):
    SUBPROCESS_TESTS += [
        "test_communicate_none_input", "test_create_subprocess_env_exec",
        "test_create_subprocess_env_shell", "test_subprocess_concurrent_wait",
        "test_subprocess_protocol_events"]
WATCHERS = ["SubprocessThreadedWatcherTests", "SubprocessSafeWatcherTests",
            "SubprocessFastWatcherTests", "SubprocessPidfdWatcherTests"]

OURS = {  # module -> test id -> reason; what ours fails (see `expected`)
    "test_streams": {
        "StreamTests.test_read_all_from_pipe_reader": PIPES,
        **failing(TLS, ["test_start_tls", "test_open_connection_no_loop_ssl",
                        "test_open_unix_connection_no_loop_ssl"], "StreamTests."),
    },
    "test_subprocess": {
        **{f"{watcher}.{test}": SUBPROCESSES
           for watcher in WATCHERS for test in SUBPROCESS_TESTS},
        "GenericWatcherTests.test_create_subprocess_fails_with_inactive_watcher":
            SUBPROCESSES + ", before the child watcher is asked (the test expects its "
            "RuntimeError)",
        **({"GenericWatcherTests.test_create_subprocess_with_pidfd": SUBPROCESSES}
           if sys.version_info >= (3, 12) else {}),
    },
    "mixin_events": {f"EventLoopTests.{test}": reason for reason, tests in [
        (SUBPROCESSES, [
            "test_subprocess_close_client_stream", "test_subprocess_exec",
            "test_subprocess_exec_invalid_args", "test_subprocess_interactive",
            "test_subprocess_kill", "test_subprocess_send_signal", "test_subprocess_stderr",
            "test_subprocess_stderr_redirect_to_stdout", "test_subprocess_terminate",
            "test_subprocess_close_after_finish", "test_subprocess_exitcode",
            "test_subprocess_shell", "test_subprocess_shell_invalid_args",
            "test_subprocess_wait_no_same_group"]),
        (PIPES, [
            "test_bidirectional_pty", "test_read_pipe", "test_read_pty_output",
            "test_unclosed_pipe_transport", "test_write_pipe",
            "test_write_pipe_disconnect_on_close", "test_write_pty"]),
        (DATAGRAMS, [
            "test_create_datagram_endpoint", "test_create_datagram_endpoint_ipv6",
            "test_create_datagram_endpoint_sock"]),
        (TLS, [
            "test_create_server_ssl", "test_create_server_ssl_match_failed",
            "test_create_server_ssl_verified", "test_create_server_ssl_verify_failed",
            "test_create_ssl_connection", "test_create_ssl_unix_connection",
            "test_create_unix_server_ssl", "test_create_unix_server_ssl_verified",
            "test_create_unix_server_ssl_verify_failed", "test_ssl_connect_accepted_socket"]),
        (ASYNCIO_INTERNALS.format(error="OSError: cannot assign requested address"), [
            "test_create_server_multiple_hosts_ipv4",
            "test_create_server_multiple_hosts_ipv6"]),
        (ASYNCIO_INTERNALS.format(error="AttributeError: no _stop_serving"), [
            "test_prompt_cancellation"]),
    ] for test in tests},
    "mixin_sock_lowlevel": failing(
        DATAGRAMS, ["test_recvfrom", "test_recvfrom_into", "test_sendto_blocking"],
        "SockTests."),
}



# From 3.13, asyncio changed two things that ours keeps as 3.11 has them (the CI's
# Python; the chapter says so): uncancel() also clears a pending cancellation when the
# count reaches zero, which 3.13's TaskGroup and timeout rely on for nested
# cancellations, and set_exception(StopIteration) stores a RuntimeError instead of
# raising TypeError. 3.13 also adds tests of what ours leaves out.
UNCANCEL = ("ours keeps 3.11's uncancel(), which only counts down; 3.13's also clears "
            "_must_cancel at zero, and its TaskGroup and timeout rely on it")
STOP_ITERATION = ("ours keeps 3.11's TypeError for set_exception(StopIteration); "
                  "3.13 stores a RuntimeError caused by it")
SINCE_3_13 = {
    "test_taskgroups": {"TestTaskGroup.test_nested_groups_both_cancelled": UNCANCEL},
    "test_timeouts": {"TimeoutTests.test_timeout_taskgroup": UNCANCEL},
    "test_subprocess": {f"{watcher}.test_subprocess_send_signal_race": SUBPROCESSES
                        for watcher in WATCHERS},
    "mixin_tasks": {f"{cls}.test_uncancel_resets_must_cancel": UNCANCEL
                    for cls in ("TaskTests", "TaskSubclassTests")},
    "mixin_futures": {f"{cls}.{test}": STOP_ITERATION
                      for cls in ("FutureTests", "SubFutureTests")
                      for test in ("test_stop_iteration_exception",
                                   "test_stop_iteration_subclass_exception")},
    "mixin_events": {"EventLoopTests.test_datagram_send_to_non_listening_address": DATAGRAMS},
}
# 3.13 only: this test counts the ResourceWarnings of a garbage collection, which then
# also finds what the TLS and pipe tests before it (left out, failing) left behind; run
# alone, it passes.
FLAKY_SINCE_3_13 = {
    "test_streams": {"StreamTests.test_unclosed_resource_warnings":
                     "a knock-on of the left-out TLS and pipe tests before it"},
}


def expected(module):
    """A row of EXPECTED: asyncio's own loop passes everything (the baseline)."""
    fails, flaky = dict(OURS.get(module, {})), {}
    if sys.version_info >= (3, 13):
        fails.update(SINCE_3_13.get(module, {}))
        flaky.update(FLAKY_SINCE_3_13.get(module, {}))
    return {"selector": Expect(fails=fails, flaky=flaky), "asyncio": PASS}


EXPECTED = {module: expected(module) for module in MODULES}  # module -> column -> Expect


# ---- One module on one column, in a fresh process


def column_classes(target):
    """(policy class, Future, Task) of the column whose module is target."""
    if target == "asyncio":
        return asyncio.DefaultEventLoopPolicy, asyncio.Future, asyncio.Task
    module = importlib.import_module(target)
    # uvloop has no Future or Task of its own: its loop creates asyncio's
    return (module.EventLoopPolicy, getattr(module, "Future", asyncio.Future),
            getattr(module, "Task", asyncio.Task))


def column_of(target):
    """A target of ``pytest --impl aio=...`` as a column: the name of COLUMNS whose
    module it is, else the module itself (a learner's own)."""
    module = target.partition(":")[0]
    return next((name for name, known in COLUMNS.items() if known == module), module)


def install_policy(policy_class):
    """The column's policy, now and after any reset: set_event_loop_policy(None) makes
    asyncio build a new `asyncio.DefaultEventLoopPolicy` the next time it needs one."""
    asyncio.set_event_loop_policy(policy_class())
    asyncio.DefaultEventLoopPolicy = policy_class


def environment(target, folder):
    """The child's environment: the column's module named (the folder stays empty)."""
    env = dict(os.environ)
    env.pop("PYTHONSAFEPATH", None)  # the child imports coursetools from the repository
    env.setdefault("PYTHONFAULTHANDLER", "1")
    env[COLUMN_VARIABLE] = target
    return env


def child(module, result_path, tests):
    """In the child: install the column's policy, build the module if it is a mixin one,
    then run and record its tests."""
    policy_class, future_class, task_class = column_classes(os.environ[COLUMN_VARIABLE])
    install_policy(policy_class)
    if module in MIXINS:
        mixin_module(module, policy_class().new_event_loop, future_class, task_class)
        name = module
    else:
        name = f"{PACKAGE}.{module}"
    return upstream_suite.run_tests(name, result_path, tests, TEST_TIMEOUT)


SUITE = upstream_suite.Suite(
    command=__spec__.name, doc=__doc__, columns=COLUMNS, modules=MODULES,
    expected=EXPECTED, timeout=TIMEOUT,
    # both must import: the column's module and CPython's tests (absent on Debian's python3)
    module_of=lambda target: f"{target}, {PACKAGE}",
    environment=environment, child=child,
    option="columns",
    option_help=f"comma-separated, from {', '.join(COLUMNS)} or modules as package.module "
                "with EventLoopPolicy, Future and Task (default: both)",
    other="a module as package.module",
    column="column",
    modules_named="modules of test.test_asyncio, or mixin_ modules",
    modules_are="take their loop from the policy, or build classes from mixins",
    told=f"with the column's policy installed ({COLUMN_VARIABLE})",
)


# ---- Refreshing EXPECTED: a draft of it from a run


def draft(results):
    """Every test that broke in results ({(module, column): Run}), as Python to paste into
    a suite's table of failures: for each column, module -> test id -> reason, the
    reason a placeholder that names the error (its traceback's last line), so that tests
    that fail alike are seen together. Pairs that did not run say so in a comment."""
    lines = []
    for column in dict.fromkeys(column for _, column in results):
        lines.append(f"# ---- {column}")
        lines.append("{")
        for (module, col), run in results.items():
            if col != column:
                continue
            if run.status != "ok":
                why = run.detail.partition("\n")[0]
                lines.append(f"    # {module}: {run.status}: {why}")
                continue
            if not run.broken:
                continue
            lines.append(f"    {module!r}: {{")
            for test, trace in sorted(run.broken.items(), key=lambda item: _error(item[1])):
                lines.append(f"        {test!r}:")
                lines.append(f"            {'TODO: ' + _error(trace)!r},")
            lines.append("    },")
        lines.append("}")
    return "\n".join(lines)


def _error(trace):
    """The line that names the error: a traceback's last line; the first line of what
    the runner says instead of a traceback (a hang, a crash, "unexpected success")."""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    if not lines:
        return "(nothing said)"
    return (lines[-1] if lines[0].startswith("Traceback") else lines[0])[:200]


def main(suite, argv=None):
    """A suite's command line, plus ``--draft``: run the pairs asked for, print `draft`
    of them (no table, no verdict)."""
    parser = suite.parser()
    parser.add_argument("--draft", action="store_true",
                        help="print the failures of the run as EXPECTED entries to edit")
    args = parser.parse_args(argv)
    if not args.draft:
        return suite.main(argv)
    columns = [name.strip() for name in getattr(args, suite.option).split(",") if name.strip()]
    modules = [name.strip() for name in args.modules.split(",") if name.strip()]
    progress = (lambda line: None) if args.quiet else (
        lambda line: print(line, file=sys.stderr, flush=True))
    print(draft(suite.run_all(modules, columns, args.jobs, args.timeout, progress)))
    return 0


if __name__ == "__main__":
    sys.exit(main(SUITE))
