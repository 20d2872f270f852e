"""Random loop programs on our libev loops and on gevent's corecext, their traces compared.

A program has a few watchers (timer, prepare, check, idle, io on one end of a
socketpair; each with a priority and ``ref`` or not), a few ``run_callback``
callbacks, and a top level: a list of steps, each an operation or a run of the loop
(``run()``, ``run(once=True)``, ``run(nowait=True)``). Every watcher and callback has
bodies: its n-th call runs its n-th body, a list of operations: start, stop, close
or feed a watcher, set its ``ref`` or priority, ``again`` a timer, queue or cancel a
callback, ``loop.ref()`` / ``unref()``, ``break_()``, send a byte to the io watchers'
socket or read what is there, raise. The trace records every call (who, with what
args), every error (handle_error's context and type, or an operation's exception,
type and message), and after each run each watcher's ``active`` and ``pending`` and the
loop's ``activecnt`` and ``pendingcnt``. ``core`` and ``pyloop`` must give corecext's
trace; corecffi's differences are printed (``-s``), not judged: its known ones are in
tests/conformance/test_loop.py (``diverges("corecffi", ...)``).

Determinism. Time advances only while the loop waits for a timer, so every timer has
a *slot*: it expires ``slot * STEP`` seconds after the program's time 0, and no two
share one. Program timers take whole slots; each ``run()`` and ``run(once=True)`` has
an unreferenced *breaker* timer on a half slot after the last slot that fired, which
records ``end`` and breaks the loop, so that a run whose referenced watchers never fire
ends. The harness knows the last slot that fired, so a timer started after its slot is
``late`` (not started), by the program's logic, never by a race. While no program
timer is active, time 0 moves so that now is the last slot that fired (no deadline is
at stake); while one is, the harness must stay within a quarter STEP of that slot, or
the run is ``Unreliable`` (a busy machine held it up) and is run again. A timer due at
once (of zero seconds, or restarted after it expired: libev keeps how late it was in
``at``) is started only if no other such timer is active (two due at once come out of
libev's 4-heap and our binary heap in orders that depend on the heap, or on how late). A timer stopped
before it fired is not started again (it would fire its remaining time after a moment
that is not on the grid). Calls are limited: a watcher's sixth call stops it
(``CALLS``), and past ``LIMIT`` calls in all a callback only breaks the loop, so that
a watcher that fires every iteration ends its run. A difference between ours and
corecext must come back when both run again (``settled``): one that goes away was the
machine, not a loop. corecffi runs in a forked child: it can end the process (see
``trace_in_child``).

Left out, by design: ``again`` on an unreferenced timer
(``test_again_on_an_unreferenced_timer_that_does_not_repeat_gives_its_ref_back`` in
tests/conformance/test_loop.py: corecext's count of active watchers goes to -1); setting
the priority of a watcher that is active or pending (libev forbids it; corecext
corrupts its pending queue: ``test_the_priority_cannot_change_while_the_watcher_is_pending``).
"""
import faulthandler
import importlib
import os
import pickle
import re
import socket
import time
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from budget import examples

STEP = 0.06  # seconds between two slots
LIMIT = 60  # calls in one program; past it, callbacks only break the loop
CALLS = 5  # calls of one watcher; at the next, it stops itself
WATCHDOG = 60  # seconds: a loop that ignores its breaker is ended by faulthandler
OURS = ["core", "pyloop"]
REFERENCE = "corecext"
SHOWN = "corecffi"  # run and compared, its differences printed, not judged
MODULES = {"core": "impls.libev.core", "pyloop": "impls.libev.pyloop",
           "corecext": "gevent.libev.corecext", "corecffi": "gevent.libev.corecffi"}
KINDS = ["timer", "prepare", "check", "idle", "io"]
READ, WRITE = 1, 2  # libev's numbers, the same in every loop module
TIMER = 0x100


# ---- The programs


class Watcher(NamedTuple):
    kind: str
    ref: bool
    priority: int
    slot: int | None  # a timer's slot; None: zero seconds
    events: int  # an io watcher's


class Program(NamedTuple):
    watchers: tuple  # of Watcher
    bodies: tuple  # watcher i's bodies are bodies[i]; callback j's, bodies[len(watchers) + j]
    top: tuple  # the steps


def _operation(draw, nwatchers, ncallbacks, top=False):
    kinds = ["start", "start", "stop", "close", "feed", "ref", "priority", "again", "send",
             "drain", "loopref", "break"] + ([] if top else ["raise"])  # only callbacks raise
    if ncallbacks:
        kinds += ["callback", "callback", "cancel"]
    kind = draw(st.sampled_from(kinds))
    watcher = st.integers(0, nwatchers - 1)
    if kind in ("start", "stop", "close", "again"):
        return (kind, draw(watcher))
    if kind == "feed":
        return (kind, draw(watcher), draw(st.sampled_from([READ, WRITE, TIMER])))
    if kind == "ref":
        return (kind, draw(watcher), draw(st.booleans()))
    if kind == "priority":
        return (kind, draw(watcher), draw(st.integers(-2, 2)))
    if kind == "loopref":
        return (kind, draw(st.booleans()))
    if kind in ("callback", "cancel"):
        return (kind, draw(st.integers(0, ncallbacks - 1)))
    return (kind,)


def _body(draw, nwatchers, ncallbacks):
    return tuple(_operation(draw, nwatchers, ncallbacks) for _ in range(draw(st.integers(0, 3))))


@st.composite
def programs(draw):
    nwatchers = draw(st.integers(1, 5))
    ncallbacks = draw(st.integers(0, 3))
    slots = iter(draw(st.permutations(range(1, nwatchers + 1))))
    watchers = []
    for _ in range(nwatchers):
        kind = draw(st.sampled_from(KINDS))
        watchers.append(Watcher(
            kind, draw(st.booleans()), draw(st.integers(-2, 2)),
            next(slots) if kind == "timer" and draw(st.integers(0, 3)) else None,
            draw(st.sampled_from([READ, WRITE, READ | WRITE])) if kind == "io" else 0))
    bodies = tuple(
        tuple(_body(draw, nwatchers, ncallbacks) for _ in range(draw(st.integers(0, 3))))
        for _ in range(nwatchers + ncallbacks))
    top = [("start", i) for i in range(nwatchers) if draw(st.integers(0, 3))]
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            top.append(_operation(draw, nwatchers, ncallbacks, top=True))
        top.append(("run", draw(st.sampled_from(["full", "once", "nowait"])),
                    draw(st.sampled_from([0.5, 1.5, 2.5]))))
    return Program(tuple(watchers), bodies, tuple(top))


# ---- Running one on one loop


ADDRESS = re.compile(r"0x[0-9a-f]+")


class Run:
    """One program on one loop module, its trace in ``trace``."""

    def __init__(self, module, program):
        self.libev, self.program = module, program
        self.loop = module.loop(default=False)
        self.a, self.b = socket.socketpair()
        self.a.setblocking(False)
        self.trace = []
        self.calls = 0
        self.watchers = [self._make(spec) for spec in program.watchers]
        self.names = {id(w): f"w{i}" for i, w in enumerate(self.watchers) if w is not None}
        self.interrupted = set()  # timers stopped before they fired
        self.immediate = set()  # timers started due at once: zero seconds, or fired before
        self.closed = set()
        self.ncalled = {}  # name -> calls so far
        self.callbacks = {}  # callback index -> the object run_callback returned
        self.started = None  # the program's time 0, when it starts running
        self.slot = 0.0  # the last slot that fired
        self.loop.error_handler = self
        self.unreliable = None  # an Unreliable the loop caught

    def _make(self, spec):
        loop = self.loop
        if spec.kind == "timer":
            return None  # made when first started: its ``after`` counts from then
        if spec.kind == "io":
            return loop.io(self.a.fileno(), spec.events, ref=spec.ref, priority=spec.priority)
        return getattr(loop, spec.kind)(ref=spec.ref, priority=spec.priority)

    # ---- What the loop calls

    def handle_error(self, context, type, value, tb):
        if type is Unreliable:  # raised in a callback: the loop caught it
            self.unreliable = value
            self.loop.break_()
            return
        name = self.names.get(id(context), ADDRESS.sub("0x", repr(context)))
        self.trace.append(("handle_error", name, type.__name__))

    def called(self, name, *args):
        self.calls += 1
        if self.calls > LIMIT:
            self.loop.break_()
            return
        n = self.ncalled.get(name, 0)
        self.ncalled[name] = n + 1
        if n == CALLS and name[0] == "w":
            self.trace.append(("enough", name))
            self.op_stop(int(name[1:]))
            return
        self.trace.append(("call", name, args))
        index = int(name[1:]) + (len(self.watchers) if name[0] == "c" else 0)
        if name[0] == "w" and self.program.watchers[int(name[1:])].kind == "timer" and not args:
            self.slot = max(self.slot, self.program.watchers[int(name[1:])].slot or 0)
        bodies = self.program.bodies[index]
        if n < len(bodies):
            self.do(bodies[n])

    def breaker(self, slot):
        self.slot = slot
        self.trace.append(("end",))
        self.loop.break_()

    # ---- The operations

    def do(self, ops):
        for op in ops:
            try:
                getattr(self, "op_" + op[0])(*op[1:])
            except Unreliable:
                raise
            except Exception as error:  # an operation's error is part of the trace
                if op[0] == "raise":
                    raise
                message = ADDRESS.sub("0x", str(error)).replace(self.libev.__name__, "libev")
                self.trace.append(("error", op, type(error).__name__, message))

    def op_start(self, i):
        if i in self.closed:
            return
        spec, callback = self.program.watchers[i], lambda *args: self.called(f"w{i}", *args)
        if spec.kind == "io":
            self.watchers[i].start(callback, pass_events=True)
        elif spec.kind != "timer":
            self.watchers[i].start(callback)
        elif self._timer_may_start(i):
            self.watchers[i].start(callback, update=True)

    def _timer_may_start(self, i):
        """Whether the timer may start, made at its first start; the rules are in the
        module's docstring."""
        spec, w = self.program.watchers[i], self.watchers[i]
        if i in self.interrupted:
            self.trace.append(("not restarted", i))
            return False
        if w is not None and w.active:
            return True  # only a new callback
        if w is not None or spec.slot is None:  # due at once: it expired, or zero seconds
            if any(self.watchers[k].active for k in self.immediate - {i}):
                self.trace.append(("waits", i))
                return False
            self.immediate.add(i)
            if w is not None:
                return True
            after = 0.0
        elif spec.slot <= self.slot:
            self.trace.append(("late", i))
            return False
        else:
            after = self.until(spec.slot)
        self.watchers[i] = self.loop.timer(after, ref=spec.ref, priority=spec.priority)
        self.names[id(self.watchers[i])] = f"w{i}"
        return True

    def op_stop(self, i):
        w = self.watchers[i]
        if w is None or i in self.closed:
            return
        if self.program.watchers[i].kind == "timer" and w.active:
            self.interrupted.add(i)
        w.stop()

    def op_close(self, i):
        self.op_stop(i)
        if self.watchers[i] is not None and i not in self.closed:
            self.watchers[i].close()
            self.closed.add(i)  # gevent's CFFI watchers free their memory: never used again

    def op_feed(self, i, revents):
        if self.watchers[i] is not None and i not in self.closed:
            self.watchers[i].feed(revents, lambda *args: self.called(f"w{i}", *args), "fed")

    def op_ref(self, i, value):
        if self.watchers[i] is not None and i not in self.closed:
            self.watchers[i].ref = value

    def op_priority(self, i, priority):
        w = self.watchers[i]
        if w is not None and i not in self.closed and not w.active and not w.pending:
            w.priority = priority

    def op_again(self, i):
        w = self.watchers[i]
        if self.program.watchers[i].kind != "timer" or w is None or i in self.closed:
            return
        if not w.ref:  # see the docstring: left out
            return
        if w.active:
            self.interrupted.add(i)  # again() stops a timer that does not repeat
        w.again(lambda *args: self.called(f"w{i}", *args))

    def op_callback(self, j):
        self.callbacks[j] = self.loop.run_callback(lambda: self.called(f"c{j}"))
        self.names[id(self.callbacks[j])] = f"c{j}"

    def op_cancel(self, j):
        if j in self.callbacks:
            self.callbacks[j].stop()

    def op_send(self):
        self.b.send(b"x")

    def op_drain(self):
        try:
            self.trace.append(("drained", len(self.a.recv(100))))
        except BlockingIOError:
            self.trace.append(("drained", 0))

    def op_loopref(self, value):
        if value:
            self.loop.ref()
        else:
            self.loop.unref()

    def op_break(self):
        self.loop.break_()

    def op_raise(self):
        raise KeyError("raised")

    def until(self, slot):
        """Seconds from now to the slot. Slots are counted from the last that fired,
        and the work since must be a fraction of STEP: with no timer of the program
        active, no deadline is at stake, and the grid moves to now; else the run is
        Unreliable (a busy machine held it up), and is run again."""
        now = time.monotonic()
        if not any(w is not None and w.active and self.program.watchers[i].kind == "timer"
                   for i, w in enumerate(self.watchers)):
            self.started = now - self.slot * STEP
        elif now - (self.started + self.slot * STEP) > STEP / 4:
            raise Unreliable(f"{now - self.started - self.slot * STEP:.3f} s after slot {self.slot}")
        return self.started + slot * STEP - now

    def op_run(self, mode, distance):
        breaker = None
        if mode != "nowait":
            slot = int(self.slot) + distance  # on a half slot: never a program timer's
            if slot <= self.slot:
                slot += 1
            breaker = self.loop.timer(self.until(slot), ref=False)
            breaker.start(self.breaker, slot, update=True)
        self.loop.run(nowait=mode == "nowait", once=mode == "once")
        if self.unreliable is not None:
            raise self.unreliable
        if breaker is not None:
            breaker.stop()
        self.trace.append(("after run", mode, self.state()))

    def state(self):
        flags = tuple(None if w is None or i in self.closed else (w.active, w.pending)
                      for i, w in enumerate(self.watchers))
        return flags, self.loop.activecnt, self.loop.pendingcnt

    # ---- The whole program

    def __call__(self):
        faulthandler.dump_traceback_later(WATCHDOG, exit=True)
        self.started = time.monotonic()
        try:
            self.do(self.program.top)
            self.trace.append(("final", self.state(), tuple(
                None if w is None or i in self.closed else (w.ref, w.priority)
                for i, w in enumerate(self.watchers))))
        finally:
            faulthandler.cancel_dump_traceback_later()
            for i, w in enumerate(self.watchers):
                if w is not None and i not in self.closed:
                    w.stop()
            self.loop.destroy()
            self.a.close()
            self.b.close()
        return self.trace


class Unreliable(Exception):
    """The program fell behind its time grid: its timers would race."""


def trace_of(name, program, tries=3):
    """The program's trace on one loop; run again (up to ``tries`` times in all) if a
    busy machine made it Unreliable."""
    for attempt in range(tries):
        try:
            return Run(importlib.import_module(MODULES[name]), program)()
        except Unreliable:
            if attempt == tries - 1:
                raise


def trace_in_child(name, program):
    """trace_of in a forked child: corecffi can end the process (``ffi.from_handle()``
    finds a freed handle when an erring watcher is stopped in ``python_handle_error``),
    and its run is only shown. The trace, or how the child ended."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the trace to the pipe, and out without cleaning up
        os.close(read)
        with os.fdopen(write, "wb") as pipe:
            pickle.dump(trace_of(name, program), pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return pickle.loads(data) if data else [("ended", os.waitstatus_to_exitcode(status))]


# ---- The property


def settled(ours, program, tries=3):
    """(ours, its trace) and (ours, corecext's): a difference must come back when both
    run again, up to ``tries`` times in all; one that goes away was a machine too busy
    for the time grid (a pause of more than half a STEP, say), not a loop's."""
    for _ in range(tries):
        got, expected = trace_of(ours, program), trace_of(REFERENCE, program)
        if got == expected:
            break
    return (ours, got), (ours, expected)


def unavailable(name):
    """Why a loop module does not import here (the Cython core is not built
    everywhere), or None."""
    try:
        importlib.import_module(MODULES[name])
    except ImportError as exc:
        return f"unavailable: {type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("ours", [
    pytest.param(name, marks=pytest.mark.skipif(unavailable(name) is not None,
                                                reason=str(unavailable(name))))
    for name in OURS])
@examples(20)
@given(program=programs())
def test_a_random_loop_program_traces_on_our_loops_as_on_corecext(ours, program):
    if ours == "pyloop":  # corecffi, pyloop's counterpart, is run and shown, not judged
        if trace_in_child(SHOWN, program) != trace_of(REFERENCE, program):
            print(f"{SHOWN} differs from {REFERENCE} on {program}")
    got, expected = settled(ours, program)
    assert got == expected
