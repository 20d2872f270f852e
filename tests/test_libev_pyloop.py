"""What the conformance suite cannot see of pyloop: the path of a system without pidfds.

pyloop watches a child of its own through a pidfd where the system has them (Linux 5.3
and later, `os.pidfd_open`), and through its SIGCHLD watcher elsewhere, as libev does.
This machine has pidfds, so the suite only ever takes the first path; here the second is
forced, in a child process of its own (the default loop and SIGCHLD are process-wide).
"""
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WITHOUT_PIDFDS = textwrap.dedent("""\
    import os
    from impls.libev import pyloop

    pyloop._pidfd_open = None  # as on macOS, or a Linux older than 5.3
    loop = pyloop.loop(default=True)
    loop.install_sigchld()
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    got = []
    watcher = loop.child(pid)
    watcher.start(lambda: (got.append((watcher.rpid, watcher.rstatus)), watcher.stop()))
    served_by_sigchld = loop._childev.active
    safety = loop.timer(5.0, ref=False)
    safety.start(loop.break_)
    loop.run()
    assert served_by_sigchld and not loop._pidfds
    assert got and got[0][0] == pid, got
    print(os.waitstatus_to_exitcode(got[0][1]))
""")


def test_without_pidfds_a_childs_exit_comes_through_sigchld():
    done = subprocess.run([sys.executable, "-c", WITHOUT_PIDFDS], cwd=ROOT, text=True,
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7"
