"""The exercises (``switchyard``, coursetools/exercises): the manifests, the skeletons,
the grading, and the learner's commands.

The central property: a skeleton filled in from our implementation up to stage k passes
exactly stages 1..k and fails stage k+1, for every k. So the skeleton (k = 0) passes
none, ours (k = the last) passes all, and each stage's tests need nothing of a later
stage. Each check is a child process, as the learner's is, on a copy in a temporary
folder of its own.
"""
import dataclasses
import os
import re

import pytest

from coursetools import reading_time
from coursetools.exercises import check, cli, manifest, your_turn
from coursetools.exercises.skeleton import cut, functions, skeleton
from coursetools.exercises.state import State

SUBJECTS = manifest.names()
SLOW = ("gen", "greenlet", "libev", "hub", "primitives", "monkey")  # a full sweep: 6, 15, 45, 15, 12, 13 s


def write_work(tmp_path, subject, upto, edit=None):
    """mywork/ under tmp_path with the subject's skeleton filled up to stage `upto`;
    `edit(name, text)` may change a file's text first."""
    work = tmp_path / "mywork"
    folder = subject.folder(work)
    folder.mkdir(parents=True)
    (work / "__init__.py").touch()
    (folder / "__init__.py").touch()
    for name, text in skeleton(subject, upto).items():
        (folder / name).write_text(edit(name, text) if edit else text)
    return work


def run_check(work, subject, stages=None, run_all=False, capstone=False):
    lines = []
    outcome = check.run(subject, work, stages or subject.stages, run_all=run_all,
                        out=lines.append, capstone=capstone)
    return outcome, "\n".join(lines)


# ---- The manifests name what exists


def slugs(chapter):
    """The heading anchors of a chapter, as the site and the book make them."""
    text = (manifest.ROOT / "chapters" / chapter).read_text()
    return {slug for _, _, slug in reading_time.headings(text)}


@pytest.mark.parametrize("name", SUBJECTS)
def test_a_manifest_names_real_functions_tests_and_sections(name):
    subject = manifest.load(name)
    targets = [t for stage in subject.stages for t in stage.writes]
    assert len(targets) == len(set(targets)), "a function is written in two stages"
    assert all(stage.writes for stage in subject.stages), "a stage with nothing to write"
    for target in targets:
        assert target.qualname in functions((subject.package / target.file).read_text()), target
    for stage in subject.stages:
        for test in stage.tests:
            path, _, test_name = test.partition("::")
            assert f"def {test_name}(" in (manifest.ROOT / path).read_text(), test
        page, _, anchor = stage.section.partition("#")
        assert anchor in slugs(page), f"stage {stage.slug}: no heading #{anchor} in {page}"


def test_a_cut_keeps_signature_docstring_and_comments_outside_the_body():
    source = (
        "import os  # kept\n\n"
        "class A:\n"
        "    X = 1  # a constant\n\n"
        "    def f(self, a,\n"
        "          b=2):\n"
        '        """Doc."""\n'
        "        return a + b\n\n"
        "    def g(self):\n"
        "        # why: kept, above the first statement\n"
        "        return os.sep\n"
    )
    text = cut(source, {"A.f": "stage 1: f", "A.g": "stage 2: g"})
    assert text == (
        "import os  # kept\n\n"
        "class A:\n"
        "    X = 1  # a constant\n\n"
        "    def f(self, a,\n"
        "          b=2):\n"
        '        """Doc."""\n'
        "        raise NotImplementedError('stage 1: f')\n\n"
        "    def g(self):\n"
        "        # why: kept, above the first statement\n"
        "        raise NotImplementedError('stage 2: g')\n"
    )


# ---- Filled up to stage k: passes exactly k


def sweep(name):
    """The k to check: every one for the scheduler and the IOLoop; the skeleton and ours
    for the others (their tests sleep and join threads), whose every k `make
    exercises-all` checks (SWITCHYARD_EXERCISES_ALL=1)."""
    last = len(manifest.load(name).stages)
    if name in SLOW and not os.environ.get("SWITCHYARD_EXERCISES_ALL"):
        return [0, last]
    return range(last + 1)


@pytest.mark.parametrize("name, upto", [(name, upto) for name in SUBJECTS for upto in sweep(name)])
def test_a_skeleton_filled_up_to_stage_k_passes_exactly_k(tmp_path, name, upto):
    subject = manifest.load(name)
    outcome, output = run_check(write_work(tmp_path, subject, upto), subject)
    assert outcome.problem is None, output
    assert outcome.passed == list(range(1, upto + 1)), output
    last = len(subject.stages)
    assert outcome.failed == (upto + 1 if upto < last else None), output


CAPSTONES = ([name for name in SUBJECTS if manifest.load(name).capstone]
             if os.environ.get("SWITCHYARD_EXERCISES_ALL") else ["ioloop", "libev"])


@pytest.mark.parametrize("name", CAPSTONES)
@pytest.mark.parametrize("upto, passes", [(0, False), (None, True)], ids=["skeleton", "ours"])
def test_the_capstone_runs_the_scenarios_on_the_learners_code(tmp_path, name, upto, passes):
    """ioloop: our gen recompiled onto your IOLoop; libev: the real gevent on your loop
    (GEVENT_LOOP). The others in `make exercises-all`."""
    subject = manifest.load(name)
    upto = len(subject.stages) if upto is None else upto
    outcome, output = run_check(write_work(tmp_path, subject, upto), subject, capstone=True)
    assert (outcome.passed == [len(subject.stages) + 1]) == passes, output
    assert "[capstone] The capstone" in output


@pytest.mark.parametrize("name", SUBJECTS)
def test_the_skeleton_fails_every_stage(tmp_path, name):
    subject = manifest.load(name)
    outcome, output = run_check(write_work(tmp_path, subject, 0), subject, run_all=True)
    assert outcome.passed == [], output
    assert output.count(") failed") == len(subject.stages), output


# ---- A learner's code that misbehaves


def replace_body(subject, qualname, body):
    """An edit for write_work: the function's statements become `body`."""

    def edit(name, text):
        if qualname not in functions(text) or name != subject.files[0]:
            return text
        return cut(text, {qualname: "x"}).replace("raise NotImplementedError('x')", body)

    return edit


def test_a_stage_that_hangs_times_out_within_its_limit(tmp_path):
    subject = manifest.load("scheduler")
    stage = dataclasses.replace(subject.stages[0], timeout=1.0)
    work = write_work(tmp_path, subject, 6,
                      replace_body(subject, "Scheduler.run", "while True:\n            pass"))
    outcome, output = run_check(work, subject, [stage])
    assert outcome.problem == "timeout" and outcome.failed == 1
    assert "[stage 1/6] stage 1 timed out after 1 s, in test_run_returns_at_once" in output


@pytest.mark.parametrize("how, said", [
    ("import os; os._exit(3)", "exited with status 3"),
    ("import ctypes; ctypes.string_at(0)", "killed by SIGSEGV"),
])
def test_a_crash_in_the_learners_code_is_a_failed_stage(tmp_path, how, said):
    subject = manifest.load("scheduler")
    work = write_work(tmp_path, subject, 6, replace_body(subject, "Scheduler.new", how))
    outcome, output = run_check(work, subject, subject.stages[:1])
    assert outcome.problem == "crash" and outcome.failed == 1, output
    assert said in output and "test_a_task_runs_to_its_end_and_run_returns" in output


@pytest.mark.parametrize("name, reexport, said", [
    ("ioloop", "tornado.ioloop", "IOLoop is tornado.ioloop.IOLoop, not a class of yours"),
    ("ioloop", "impls.ioloop.pollioloop", "IOLoop is impls.ioloop.pollioloop.IOLoop"),
    ("greenlet", "greenlet", "greenlet is greenlet.greenlet, not a class of yours"),
    ("libev", "gevent.libev.corecext", "loop is gevent.libev.corecext.loop"),
    ("gen", "impls.coroutine.gen", "coroutine comes from"),
])
def test_a_module_that_reexports_someone_elses_code_is_refused(tmp_path, name, reexport, said):
    subject = manifest.load(name)
    work = write_work(tmp_path, subject, 0, lambda file, text: (
        f"from {reexport} import *\n" if file == subject.files[0] else text))
    outcome, output = run_check(work, subject)
    assert outcome.problem == "cheat" and outcome.passed == [], output
    assert said in output


def test_a_syntax_error_is_reported_with_its_file_and_line(tmp_path):
    subject = manifest.load("scheduler")
    work = write_work(tmp_path, subject, 0, lambda name, text: text.replace(
        "class TaskKilled(Exception):", "class TaskKilled(Exception:", 1))
    line = 1 + (subject.package / "scheduler.py").read_text().splitlines().index(
        "class TaskKilled(Exception):")
    outcome, output = run_check(work, subject)
    assert outcome.problem == "import"
    assert f"mywork/scheduler/scheduler.py:{line}" in output
    assert "SyntaxError" in output and "Traceback" not in output


# ---- The commands


def switchyard(capsys, tmp_path, *args):
    status = cli.main(["--dir", str(tmp_path / "mywork"), *args])
    out, err = capsys.readouterr()
    return status, out + err


def test_start_writes_the_skeleton_and_refuses_to_overwrite(tmp_path, capsys):
    status, out = switchyard(capsys, tmp_path, "start", "scheduler")
    assert status == 0 and "Scheduler.run" in out and "switchyard check scheduler" in out
    mine = tmp_path / "mywork" / "scheduler" / "scheduler.py"
    mine.write_text("# my work\n")
    status, out = switchyard(capsys, tmp_path, "start", "scheduler")
    assert status == 2 and "not overwriting your work" in out and str(mine) in out
    assert mine.read_text() == "# my work\n"
    assert switchyard(capsys, tmp_path, "start", "scheduler", "--force")[0] == 0
    assert "NotImplementedError" in mine.read_text()


@pytest.mark.parametrize("args, listed", [
    (("start", "nope"), "scheduler, ioloop, gen, aio, greenlet, libev, hub"),
    (("solution", "ioloop", "99"), "1 (callbacks), 2 (timedelta)"),
])
def test_an_unknown_subject_or_stage_lists_the_valid_ones(tmp_path, capsys, args, listed):
    (tmp_path / "mywork").mkdir()
    status, out = switchyard(capsys, tmp_path, *args)
    assert status == 2 and listed in out


def test_check_without_a_folder_says_what_to_run(tmp_path, capsys):
    status, out = switchyard(capsys, tmp_path, "check")
    assert status == 2 and "switchyard start SUBJECT" in out


def test_hints_come_one_at_a_time_and_the_solution_only_after_the_stage(tmp_path, capsys):
    switchyard(capsys, tmp_path, "start", "scheduler")
    hints = manifest.load("scheduler").stages[0].hints
    for count, hint in enumerate(hints, 1):
        status, out = switchyard(capsys, tmp_path, "hint")
        assert hint in out and f"(of {len(hints)})" in out
    assert "the answer" in out
    status, out = switchyard(capsys, tmp_path, "solution", "scheduler", "1")
    assert status == 2 and "pass stage 1 (tasks) first" in out
    state = State(tmp_path / "mywork")
    state.of("scheduler")["passed"] = ["tasks"]
    state.save()
    status, out = switchyard(capsys, tmp_path, "solution", "scheduler", "tasks")
    assert status == 0 and "def run(self, timeout=None):" in out
    status, out = switchyard(capsys, tmp_path, "progress")
    assert re.search(r"scheduler\s+1/6\s+2 system-calls", out)


def test_every_section_a_stage_follows_ends_with_its_your_turn_box():
    stale = []
    for page, sections in your_turn.boxes().items():
        text = (manifest.ROOT / "chapters" / page).read_text()
        if your_turn.rewritten(text, sections) != text:
            stale.append(page)
    assert not stale, (f"Your turn boxes out of date in {', '.join(stale)}: run "
                       "python -m coursetools.exercises.your_turn --write")


def test_a_your_turn_box_names_the_stage_and_its_command():
    scheduler = manifest.load("scheduler")
    text = "# T\n\n## One\n\nprose\n\n## Two\n\nmore\n"
    new = your_turn.rewritten(text, {"one": [(scheduler, scheduler.stages[0])]})
    assert your_turn.rewritten(new, {"one": [(scheduler, scheduler.stages[0])]}) == new
    box = new[new.index("<!-- your-turn -->"):new.index("## Two")]
    assert "stage 1 of 6 of `scheduler`" in box
    assert "`switchyard check scheduler --stage 1`" in box
    assert new.index("prose") < new.index("<!-- your-turn -->") < new.index("## Two")
    with pytest.raises(LookupError):
        your_turn.rewritten(text, {"three": [(scheduler, scheduler.stages[0])]})


def test_the_build_it_yourself_page_lists_every_stage_in_order():
    page = (manifest.ROOT / "chapters" / "build-it-yourself" / "index.md").read_text()
    for name in SUBJECTS:
        listed = re.findall(r"^\| (\d+) \| `([\w-]+)` \|", page.split(f"**`{name}`**")[1]
                            .split("\n\n**")[0], re.MULTILINE)
        assert listed == [(str(s.number), s.slug) for s in manifest.load(name).stages], name


def test_watch_checks_again_on_a_save_and_stops_cleanly_on_ctrl_c(tmp_path, capsys, monkeypatch):
    switchyard(capsys, tmp_path, "start", "scheduler")
    mine = tmp_path / "mywork" / "scheduler" / "scheduler.py"
    checks, naps = [], []
    monkeypatch.setattr(cli, "check_once", lambda *args: checks.append(mine.read_text()))

    def nap(seconds):  # the learner saves once, then presses Ctrl-C
        naps.append(seconds)
        if len(naps) == 1:
            mine.write_text(mine.read_text() + "# saved\n")
        elif len(naps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", nap)
    status, out = switchyard(capsys, tmp_path, "check", "--watch")
    assert status == 130 and "stopped watching" in out
    assert len(checks) == 2 and checks[1].endswith("# saved\n")
