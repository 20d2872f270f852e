"""Seeing inside: what every thread and every greenlet is doing right now (gevent's
``util.py``), and gevent's environment switches, read as gevent reads them.

    print_run_info()        # to stderr; format_run_info() returns the lines

    ********************************************************************************
    * Threads
    ********************************************************************************
    Thread 0x7f3c36e82b80 (MainThread) (CURRENT)
      File "app.py", line 9, in <module>
    ...
    ********************************************************************************
    * Greenlets
    ********************************************************************************
    ---- Thread boundary
    <greenlet.greenlet object at 0x7f3c... main>
     :    Parent: None
     +--- <Greenlet at 0x7f3c...: sleeper>
     :          Parent: <Hub ...>
     :          Running:
     :            File "app.py", line 3, in sleeper
     :          Spawned at:
     :            File "app.py", line 5, in <module>

The greenlets are found as gevent finds them, among the objects the garbage collector
tracks; each is drawn under the greenlet that spawned it (task.py records it), or, if it
has none, under its thread's main greenlet. The text is for people: it may change.
"""
import gc
import os
import pprint
import sys
import threading
import traceback

from .monkey import get_original

BANNER = "*" * 80


def env_flag(key, default):
    """A boolean from the environment, spelled as gevent accepts it (``_config.py``):
    1, true, on, yes; 0, false, off, no, or empty; ``default`` when unset."""
    value = os.environ.get(key)
    if value is None:
        return default
    value = value.strip().lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no", ""):
        return False
    raise ValueError(f"Invalid boolean string: {value!r}")  # gevent's words


def print_run_info(runtime, thread_stacks=True, greenlet_stacks=True, limit=None, file=None):
    """Print ``format_run_info()``, a line at a time, to ``file`` (stderr by default)."""
    for line in format_run_info(runtime, thread_stacks, greenlet_stacks, limit):
        print(line, file=sys.stderr if file is None else file)


def format_run_info(runtime, thread_stacks=True, greenlet_stacks=True, limit=None,
                    current_thread_ident=None):
    """Lines of text: every OS thread and its stack, then every greenlet of the runtime's
    greenlet class, as a tree of who spawned whom, each with its state, its parent, its
    stack and where it was spawned. ``limit`` caps each stack (``traceback.format_stack``'s);
    ``current_thread_ident`` (this thread's by default) is the thread marked CURRENT."""
    if current_thread_ident is None:  # the OS thread's: get_ident may be patched per greenlet
        current_thread_ident = get_original("_thread", "get_ident")()
    return (_thread_lines(thread_stacks, limit, current_thread_ident)
            + _greenlet_lines(runtime, greenlet_stacks, limit))


# ---- Threads: every OS thread, its name and its stack


def _thread_lines(thread_stacks, limit, current_thread_ident):
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    lines = [BANNER, "* Threads"]
    for ident, frame in sys._current_frames().items():
        current = ") (CURRENT" if ident == current_thread_ident else ""  # gevent's spelling
        lines += [BANNER, f"Thread {ident:#x} ({names.get(ident)}{current})\n"]
        lines.append("".join(traceback.format_stack(frame, limit)) if thread_stacks
                     else "\t...stack elided...")
    del frame  # perhaps this very frame: a cycle through our own locals otherwise
    return lines


# ---- Greenlets: one tree per thread, each greenlet under its spawner


def _greenlet_lines(runtime, greenlet_stacks, limit):
    lines = [BANNER, "* Greenlets", BANNER]
    current = runtime.getcurrent()
    roots, children = _spawn_forest(runtime.greenlet.greenlet, main_of(current))
    for root in roots:  # this thread's first
        lines.append("---- Thread boundary")
        # Only this thread's stacks: another thread's running greenlet would show ours.
        stacks = current if greenlet_stacks and root is roots[0] else None
        lines += [text for text, _ in _tree(root, children, stacks, limit, 0)]
    return lines


def _spawn_forest(greenlet_class, current_root):
    """The main greenlet of each thread, this thread's first, and a dict: greenlet ->
    the greenlets it spawned. A greenlet that has no spawner (the hub, a raw greenlet,
    or one whose spawner has been freed) hangs from its thread's main greenlet."""
    roots = [current_root]
    children = {}
    for greenlet in gc.get_objects():
        if not isinstance(greenlet, greenlet_class):
            continue
        if greenlet.parent is None:
            if greenlet is not current_root:
                roots.append(greenlet)
            continue
        spawner = _spawner(greenlet)  # a finished task is false: test for None
        if spawner is None:
            spawner = main_of(greenlet)
        children.setdefault(spawner, []).append(greenlet)
    return roots, children


def _tree(greenlet, children, current, limit, depth):
    """(text, is_data) lines: the greenlet's label, its details, then its children,
    each on a branch, drawn as gevent's ``GreenletTree`` draws them. Only at the top
    level do details carry the ':' margin; lines of structure carry the '|'."""
    lines = [(_label(greenlet), False)]
    margin = " :    " if depth == 0 else "      "
    lines += [(margin + text, True) for text in _details(greenlet, current, limit)]
    spawned = sorted(children.get(greenlet, ()), key=_order)
    for n, child in enumerate(spawned):
        last = n == len(spawned) - 1
        (label, _), *rest = _tree(child, children, current, limit, depth + 1)
        lines.append((" +--- " + label, False))
        for text, is_data in rest:
            if is_data:
                prefix = " :    " if depth == 0 and not last else "      "
            else:
                prefix = "     " if last else " |   "
            lines.append((prefix + text, is_data))
    return lines


def _label(greenlet):
    label = repr(greenlet)
    if greenlet:  # running, suspended, or (a task) scheduled to start
        return label
    ready = getattr(greenlet, "ready", None)  # a task's; a raw greenlet keeps no outcome
    if ready is None or not ready():
        return label + "; not running"
    if greenlet.value is not None:
        return label + "; finished with value " + repr(greenlet.value)[:30]
    if greenlet.exception is not None:
        return label + "; finished with exception " + repr(greenlet.exception)
    return label + "; finished"


def _details(greenlet, current, limit):
    """Its parent; its stack, if ``current`` (the current greenlet, None for no stacks)
    is given and it has one: it is suspended, or current; where it was spawned; the
    locals of its spawn tree, where the tree begins."""
    lines = [f"Parent: {greenlet.parent!r}"]
    frame = greenlet.gr_frame  # None while it runs: the current greenlet runs this code
    if current is not None and greenlet and (frame is not None or greenlet is current):
        lines += ["Running:", *_stack_lines(frame, limit)]
    spawning_stack = getattr(greenlet, "spawning_stack", None)
    if spawning_stack is not None:
        lines += ["Spawned at:", *_stack_lines(spawning_stack, None)]  # already limited
    tree_locals = getattr(greenlet, "spawn_tree_locals", None)
    if tree_locals and tree_locals is not getattr(_spawner(greenlet), "spawn_tree_locals", None):
        lines += ["Spawn Tree Locals", *pprint.pformat(tree_locals).splitlines()]
    return lines


def _stack_lines(frame, limit):
    # format_stack(None) is the stack of the caller: the current greenlet's, here.
    return "".join(traceback.format_stack(frame, limit)).splitlines()


def _order(greenlet):
    # Raw greenlets (the hub) first, then tasks still running, then finished ones.
    ready = getattr(greenlet, "ready", None)
    return ready is not None, ready is not None and ready()


def _spawner(greenlet):
    ref = getattr(greenlet, "spawning_greenlet", None)
    return None if ref is None else ref()


def main_of(greenlet):
    """The main greenlet of ``greenlet``'s thread: the root of its parents."""
    while greenlet.parent is not None:
        greenlet = greenlet.parent
    return greenlet
