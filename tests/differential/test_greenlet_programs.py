"""Random greenlet programs on our greenlets and on greenlet 3, their traces compared.

A program is a tree of up to four greenlets, each made by main in order, with main or an
earlier one as its parent, and a top level: main's steps. Each greenlet's body is a list
of steps, interpreted one after the other by one generic run function (`Program.body`):

- ``switch`` to a greenlet (by number), to main or to the parent, carrying a value named
  after the step; ``throw`` into one an exception (GreenletExit, ValueError or
  KeyError, as a class or an instance); each catches nothing, ``Exception``, or
  everything (``BaseException``) of what comes back, and records what it got;
- ``return`` a value, ``raise`` an exception (GreenletExit ends a greenlet as a result);
- ``reparent`` a greenlet (a cycle or main raises; the error is recorded);
- ``drop`` the program's reference to a greenlet: if nothing else holds it, it is freed
  there and then, and, if it is suspended, killed by GreenletExit (its last steps run,
  and an error it dies of is unraisable);
- ``inspect`` a greenlet: ``dead``, ``bool``, its parent, whether ``gr_frame`` is None.

Main's steps are switches, throws, reparents, drops and inspections, catching
everything. At the end main kills what is still alive, a ``throw()`` at a time (a
greenlet may catch GreenletExit and go on with its steps: every step runs at most once,
so this ends), dropped greenlets that something kept included, and inspects every
greenlet ("gone" if freed). The trace records each greenlet's start and its arguments,
what each step got (a value, or an exception as type and args), every drop (and whether
the greenlet was freed), every unraisable error, and every inspection. The collector is
off while a program runs, so that a greenlet dies when its last reference goes, at the
same step everywhere. A program cannot hang: each step runs at most once, and every
switch ends at main, the root of every parent chain; a watchdog (faulthandler) guards
against a broken switch.

``threaded`` and ``stackswitch`` must give greenlet's trace; an implementation that does
not import (stackswitch unbuilt) is skipped, naming the import error.

Left out, by design: the collector. greenlet never collects a suspended greenlet caught
in a reference cycle, ours do (``test_greenlet_in_a_reference_cycle_is_killed_by_the_
collector`` in tests/conformance/test_greenlet.py). Normalised: the arguments a greenlet
that dies of GreenletExit starts its unstarted parent with (see ``Program.arguments``).

Differences these programs found, now regression tests in tests/conformance/
test_greenlet.py: a greenlet that threw an exception instance into the greenlet that
switched to it and was then dropped lived on in the thread model (``test_greenlet_that_
threw_an_exception_it_still_holds_is_killed_when_dropped``), and a greenlet that a
killed greenlet's frames referred to outlived its drop, the model's kill holding the
GreenletExit (``test_greenlet_exit_of_a_kill_is_gone_once_the_dying_greenlet_drops_it``).
And one of greenlet's own: it starts an unstarted parent with no arguments when a
greenlet dies of GreenletExit (the fidelity test
``test_greenlet_exit_result_starts_an_unstarted_parent_with_it``).
"""
import faulthandler
import gc
import importlib
import sys
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from budget import examples

WATCHDOG = 60  # seconds: a program still running after this has hung; the process ends
MODULES = {"threaded": "impls.greenlet.threaded", "stackswitch": "impls.greenlet.stackswitch",
           "greenlet": "greenlet"}
REFERENCE = "greenlet"
MAX_GREENLETS = 4
EXCEPTIONS = ["GreenletExit", "ValueError", "KeyError"]
CATCHES = {"nothing": (), "errors": Exception, "all": BaseException}


def load(name):
    """The module of implementation name, or skip the test naming why it does not import."""
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        pytest.skip(f"{name} is unavailable: {type(exc).__name__}: {exc}")


# ---- Programs, as data

greenlet_ref = st.integers(0, MAX_GREENLETS - 1)  # taken modulo the number of greenlets
target = st.one_of(greenlet_ref, st.sampled_from(["main", "parent"]))
exception = st.sampled_from(EXCEPTIONS)
catch = st.sampled_from(list(CATCHES))
switch = st.tuples(st.just("switch"), target, catch)
throw = st.tuples(st.just("throw"), target, exception, st.booleans(), catch)
reparent = st.tuples(st.just("reparent"), greenlet_ref,
                     st.one_of(greenlet_ref, st.just("main")))
inspect = st.tuples(st.just("inspect"), st.one_of(greenlet_ref, st.just("main")))
drop = st.tuples(st.just("drop"), greenlet_ref)
body_step = st.one_of(switch, throw, reparent, inspect, drop, st.tuples(st.just("return")),
                      st.tuples(st.just("raise"), exception))
main_target = st.one_of(greenlet_ref, st.just("main"))
main_step = st.one_of(
    st.tuples(st.just("switch"), main_target, st.just("all")),
    st.tuples(st.just("throw"), main_target, exception, st.booleans(), st.just("all")),
    reparent, inspect, drop)


@st.composite
def programs(draw):
    """{"parents": [main or an earlier greenlet, per greenlet], "bodies", "main"}."""
    count = draw(st.integers(1, MAX_GREENLETS))
    parents = [draw(st.one_of(st.just("main"), st.integers(0, i - 1)) if i else st.just("main"))
               for i in range(count)]
    bodies = [draw(st.lists(body_step, max_size=8)) for _ in range(count)]
    return {"parents": parents, "bodies": bodies,
            "main": draw(st.lists(main_step, min_size=1, max_size=10))}


# ---- The interpreter


def value(v):
    """A value as the trace records it: exceptions as (type name, args), the rest as is."""
    if isinstance(v, BaseException):
        return ("exception", type(v).__name__, value(v.args))
    if isinstance(v, tuple):
        return tuple(value(item) for item in v)
    if isinstance(v, dict):
        return {key: value(item) for key, item in v.items()}
    return v


class Program:
    """One program run on one implementation; .trace is what it did."""

    def __init__(self, impl, program):
        self.impl, self.program, self.trace = impl, program, []
        self.main = impl.getcurrent()
        self.greenlets = []  # the program's references: None once dropped
        self.refs = []  # weak ones, to name a greenlet and to finish it at the end
        for number, (parent, steps) in enumerate(zip(program["parents"], program["bodies"])):
            parent = self.main if parent == "main" else self.greenlets[parent]
            self.greenlets.append(impl.greenlet(self.body(number, steps), parent))
            self.refs.append(weakref.ref(self.greenlets[-1]))

    def name(self, g):
        if g is None:
            return None
        if g is self.main:
            return "main"
        return next((n for n, ref in enumerate(self.refs) if ref() is g), "other")

    def greenlet(self, ref):
        """The greenlet a step names; None if the program has dropped it."""
        if ref == "main":
            return self.main
        if ref == "parent":
            return self.impl.getcurrent().parent
        return self.greenlets[ref % len(self.greenlets)]

    def make(self, kind, label, as_class=False):
        cls = self.impl.GreenletExit if kind == "GreenletExit" else {
            "ValueError": ValueError, "KeyError": KeyError}[kind]
        return cls if as_class else cls(label)

    def arguments(self, args):
        """A start's arguments. A greenlet that dies of GreenletExit starts an unstarted
        parent with the exception on ours, with none on greenlet (fidelity:
        test_greenlet_exit_result_starts_an_unstarted_parent_with_it); a switch always
        carries a label, so both can only mean that."""
        if args == () or len(args) == 1 and isinstance(args[0], self.impl.GreenletExit):
            return "a GreenletExit result"
        return value(args)

    def body(self, number, steps):
        def run(*args, **kwargs):
            self.trace.append(("start", number, self.arguments(args), value(kwargs)))
            for index, step in enumerate(steps):
                if step[0] == "return":
                    return f"{number} returned"
                self.step(f"{number}.{index}", step)
            return f"{number} ended"
        return run

    def step(self, label, step):
        """Run one step; a switch or throw records what it got, or what it caught."""
        kind = step[0]
        if kind == "raise":
            raise self.make(step[1], label)
        if kind == "drop":
            self.drop(label, step[1] % len(self.greenlets))
            return
        if kind == "inspect":
            self.trace.append((label, "inspect", self.inspect(self.greenlet(step[1]))))
            return
        target = self.greenlet(step[1])
        if target is None:
            self.trace.append((label, "dropped already"))
        elif kind == "reparent":
            self.reparent(label, target, self.greenlet(step[2]))
        elif kind == "switch":
            self.attempt(label, lambda: target.switch(label), CATCHES[step[-1]])
        else:
            exc = self.make(step[2], label, as_class=step[3])
            self.attempt(label, lambda: target.throw(exc), CATCHES[step[-1]])

    def attempt(self, label, call, catch):
        try:
            got = call()
        except catch as exc:
            self.trace.append((label, "caught", value(exc)))
        else:
            self.trace.append((label, "got", value(got)))

    def drop(self, label, number):
        """Drop the program's reference: unless a frame still holds it (or it runs), the
        greenlet is freed here, and killed if it is suspended; its last steps run now."""
        self.trace.append((label, "drop", number))
        self.greenlets[number] = None
        self.trace.append((label, "dropped", number, self.refs[number]() is None))

    def reparent(self, label, child, parent):
        if parent is None:
            self.trace.append((label, "dropped already"))
            return
        try:
            child.parent = parent
        except (ValueError, AttributeError) as exc:
            self.trace.append((label, "reparent refused", type(exc).__name__, str(exc)))
        else:
            self.trace.append((label, "reparented", self.name(child), self.name(parent)))

    def inspect(self, g):
        if g is None:
            return "gone"
        return (self.name(g), g.dead, bool(g), self.name(g.parent), g.gr_frame is None)

    def run(self):
        for index, step in enumerate(self.program["main"]):
            self.step(f"main.{index}", step)
        for number, ref in enumerate(self.refs):  # a step at most per throw: this ends
            while ref() is not None and ref():  # dropped but kept: a frame, or a survivor
                self.attempt(f"kill {number}", lambda: ref().throw(), BaseException)
        self.trace.append(("end", [self.inspect(ref()) for ref in self.refs]))
        return self.trace


def trace_of(impl, program):
    """Run program on impl; its trace. The collector is off meanwhile: greenlets die as the
    last reference goes, at the same moment on every implementation. An error that kills
    a dropped greenlet cannot be raised anywhere: it is reported as unraisable, and traced."""
    run = Program(impl, program)
    hook = sys.unraisablehook
    sys.unraisablehook = lambda u: run.trace.append(("unraisable", value(u.exc_value)))
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    gc.disable()
    try:
        return run.run()
    finally:
        gc.enable()
        faulthandler.cancel_dump_traceback_later()
        sys.unraisablehook = hook


@pytest.mark.parametrize("name", ["threaded", "stackswitch"])
@examples(300)
@given(program=programs())
def test_greenlet_program_runs_as_on_greenlet(name, program):
    impl, reference = load(name), load(REFERENCE)
    assert trace_of(impl, program) == trace_of(reference, program)
