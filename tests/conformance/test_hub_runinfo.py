"""Seeing inside: ``format_run_info`` / ``print_run_info`` (gevent.util) and the
monitor thread (gevent's ``PeriodicMonitoringThread``, ``GEVENT_MONITOR_THREAD_ENABLE``).

Every test runs on gevent and on our runtime over each greenlet × loop pair. The run
info tests run here, bounded as in test_hub.py; they find their own greenlets among
all the others of the process. The monitor is switched on by environment variables
read when a hub starts, so its tests run a short program in a child process, with a
timeout, and read what it printed to stderr.
"""
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("bounded")  # tests/conformance/conftest.py
ROOT = Path(__file__).resolve().parents[2]
THREADED = ["threaded_core", "threaded_pyloop", "threaded_corecext"]


def sleeps_for_a_while(hub):
    hub.sleep(5)


def spawns_a_sleeper(hub):
    return hub.spawn(sleeps_for_a_while, hub)


@pytest.fixture
def sleeper(hub):
    """(spawner, sleeper): a task that spawned a task that now sleeps."""
    spawner = hub.spawn(spawns_a_sleeper, hub)
    sleeper = spawner.get()
    hub.sleep(0)  # the sleeper starts, and sleeps
    yield spawner, sleeper
    sleeper.kill()


def _entry(lines, task):
    """The lines that show ``task``: its label, then its details, up to the next
    greenlet. (After format_run_info: gevent's repr may gain a name there.)"""
    label = "+--- " + repr(task)
    start = next(i for i, line in enumerate(lines) if label in line)
    end = next((i for i in range(start + 1, len(lines))
                if "+--- " in lines[i] or lines[i].startswith("---- ")), len(lines))
    return lines[start:end]


def _text(lines):
    return "\n".join(lines)


def _section(entry, heading):
    """The index of the line of ``entry`` that opens ``heading`` ("Running:"...)."""
    return next(i for i, line in enumerate(entry) if line.endswith(heading))


# ---- format_run_info and print_run_info


def test_run_info_begins_with_every_thread_this_one_marked_current(hub):
    lines = hub.format_run_info()
    assert lines[:2] == ["*" * 80, "* Threads"]
    current = [line for line in lines if line.startswith(f"Thread {threading.get_ident():#x} (")]
    assert len(current) == 1 and current[0].endswith("(CURRENT)\n")
    assert "* Greenlets" in lines and lines.index("* Greenlets") > lines.index(current[0])


def test_run_info_shows_a_sleeping_greenlet_with_its_stack_and_its_spawner(hub, sleeper):
    spawner, task = sleeper
    lines = hub.format_run_info()
    entry = _entry(lines, task)
    running, spawned = _section(entry, "Running:"), _section(entry, "Spawned at:")
    assert "in sleeps_for_a_while" in _text(entry[running:spawned])
    assert "in spawns_a_sleeper" in _text(entry[spawned:])
    assert "return hub.spawn(sleeps_for_a_while, hub)" in _text(entry[spawned:])


def test_run_info_draws_a_greenlet_under_the_one_that_spawned_it(hub, sleeper):
    spawner, task = sleeper
    lines = hub.format_run_info()
    parent_line = next(i for i, line in enumerate(lines) if "+--- " + repr(spawner) in line)
    child_line = next(i for i, line in enumerate(lines) if "+--- " + repr(task) in line)
    assert child_line > parent_line
    assert lines[child_line].index("+--- ") > lines[parent_line].index("+--- ")


def test_run_info_says_a_task_has_finished_and_with_what(hub):
    task = hub.spawn(lambda: 42)
    task.join()
    lines = hub.format_run_info()
    assert _entry(lines, task)[0].endswith("; finished with value 42")


def test_run_info_shows_the_locals_of_a_spawn_tree(hub, sleeper):
    spawner, task = sleeper
    spawner.spawn_tree_locals["request"] = "GET /"
    lines = hub.format_run_info()
    entry = _entry(lines, spawner)
    assert any(line.endswith("Spawn Tree Locals") for line in entry)
    assert any(line.endswith("{'request': 'GET /'}") for line in entry)


def test_run_info_elides_stacks_on_request(hub, sleeper):
    spawner, task = sleeper
    lines = hub.format_run_info(thread_stacks=False, greenlet_stacks=False)
    assert "\t...stack elided..." in lines
    entry = _entry(lines, task)
    assert not any(line.endswith("Running:") for line in entry)
    assert any(line.endswith("Spawned at:") for line in entry)  # always shown


def test_run_info_limits_each_stack(hub, sleeper):
    spawner, task = sleeper
    entry = _entry(hub.format_run_info(limit=1), task)
    running = _section(entry, "Running:")
    files = [line.lstrip(" :|").startswith("File ") for line in entry[running + 1:running + 4]]
    assert files == [True, False, False]  # a file line, its source line, then what follows


@pytest.mark.fidelity("the threaded model runs each greenlet on an OS thread of its own: a "
                      "suspended greenlet is listed among the threads too", of=THREADED)
def test_a_suspended_greenlet_shows_among_the_threads(hub, sleeper):
    lines = hub.format_run_info()
    threads = _text(lines[:lines.index("* Greenlets")])
    assert "in sleeps_for_a_while" in threads


def test_print_run_info_prints_the_lines_to_a_file(hub, sleeper):
    spawner, task = sleeper
    out = io.StringIO()
    hub.print_run_info(file=out)
    text = out.getvalue()
    assert text.startswith("*" * 80 + "\n* Threads\n") and "* Greenlets\n" in text
    assert "+--- " + repr(task) in text


# ---- The monitor thread, in a child process

PROGRAM = """
import sys, time
from impls.hub import runtimes
hub = getattr(runtimes, sys.argv[1])

def hold_the_loop(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass

{body}
"""


def _run(hub_name, body, **environ):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **environ}
    result = subprocess.run([sys.executable, "-c", PROGRAM.format(body=body), hub_name],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result


def _monitored(hub_name, body, max_blocking_time="0.1"):
    return _run(hub_name, body, GEVENT_MONITOR_THREAD_ENABLE="1",
                GEVENT_MAX_BLOCKING_TIME=max_blocking_time).stderr


@pytest.fixture
def hub_name(request, hub):
    return request.node.get_closest_marker("impl").args[1]


HOLD = """
task = hub.spawn(hold_the_loop, {seconds})
task.join()
hub.sleep(0.3)  # the report is printed meanwhile, if it was not already
hub.start_periodic_monitoring_thread().kill()
"""


def test_the_monitor_reports_a_greenlet_that_holds_the_loop(hub_name):
    err = _monitored(hub_name, HOLD.format(seconds=0.3))
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ : Greenlet .*hold_the_loop.* appears to be blocked", err), err
    assert "Blocked Stack (for thread id 0x" in err and "* Greenlets" in err


def test_the_monitor_is_silent_for_a_greenlet_that_sleeps(hub_name):
    err = _monitored(hub_name, """
task = hub.spawn(hub.sleep, 0.5)
task.join()
hub.start_periodic_monitoring_thread().kill()
""")
    assert "appears to be blocked" not in err, err


def test_the_monitor_allows_a_hold_shorter_than_max_blocking_time(hub_name):
    err = _monitored(hub_name, HOLD.format(seconds=0.2), max_blocking_time="0.6")
    assert "appears to be blocked" not in err, err


@pytest.mark.fidelity("gevent reports again at each look of its thread, once per "
                      "max_blocking_time, for as long as the loop is held")
def test_the_monitor_reports_a_blocking_episode_once(hub_name):
    err = _monitored(hub_name, HOLD.format(seconds=0.6))
    assert err.count("appears to be blocked") == 1, err


@pytest.mark.fidelity("the threaded model runs each greenlet on an OS thread of its own: the "
                      "hub's thread, whose stack the report shows first, is parked in a switch, "
                      "and the blocking greenlet's stack is only under Threads", of=THREADED)
def test_the_blocked_stack_is_the_hubs_thread_not_the_blocking_greenlets(hub_name):
    err = _monitored(hub_name, HOLD.format(seconds=0.3))
    blocked = err[err.index("Blocked Stack"):err.index("Info:")]
    assert "in hold_the_loop" not in blocked and "in hold_the_loop" in err, err


def test_a_killed_monitor_leaves_no_thread_behind(hub_name):
    out = _monitored(hub_name, """
def alive(ident, expected):  # a new thread shows once it has begun to run
    deadline = time.monotonic() + 5
    while (ident in sys._current_frames()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return ident in sys._current_frames()

hub.sleep(0.01)  # the hub runs, and starts its monitor (gevent's ends if its hub never ran)
monitor = hub.start_periodic_monitoring_thread()
print(alive(monitor.monitor_thread_ident, True), file=sys.stderr)
monitor.kill()
print(alive(monitor.monitor_thread_ident, False), file=sys.stderr)
""")
    assert out.split()[-2:] == ["True", "False"], out


def test_without_the_variable_there_is_no_monitor(hub_name):
    env = {"GEVENT_MONITOR_THREAD_ENABLE": ""}  # empty: off, as unset
    result = _run(hub_name, """
hub.sleep(0.01)
print(hub.start_periodic_monitoring_thread())
""", **env)
    assert result.stdout.split() == ["None"]
