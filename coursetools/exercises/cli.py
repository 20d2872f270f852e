"""The ``switchyard`` command: start, check, hint, progress, solution.

    switchyard start ioloop          # a skeleton in mywork/ioloop/, and where to begin
    switchyard check                 # the stages in order, up to the first that fails
    switchyard check --watch         # again on every save (Ctrl-C to stop)
    switchyard check --capstone      # after the last stage: the scenario programs on it
    switchyard hint                  # the current stage's next hint
    switchyard progress              # every subject: stages passed, the current one
    switchyard solution ioloop 2     # our code for a stage you have passed
"""
import argparse
import functools
import sys
import time
from pathlib import Path

from . import check as checking
from . import manifest
from .skeleton import segment, skeleton
from .state import State

WATCH_PERIOD = 0.5  # seconds between two looks at the files' modification times


class Refusal(Exception):
    """Something the learner can fix; the message says how."""


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except (Refusal, manifest.ManifestError) as exc:
        print(f"switchyard: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # switchyard progress | head: the reader has all it wants
        sys.stdout = None
        return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    where = "your folder (default: mywork); its name is the package's"
    parser.add_argument("--dir", default=Path("mywork"), type=Path, help=where)
    # Also after the command (switchyard check --dir x), without resetting it there.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=argparse.SUPPRESS, type=Path, help=where)
    sub = parser.add_subparsers(dest="command")
    add = functools.partial(sub.add_parser, parents=[common])

    start = add("start", help="write a subject's skeleton into your folder")
    start.add_argument("subject")
    start.add_argument("--force", action="store_true", help="overwrite your files")
    start.set_defaults(run=cmd_start)

    check = add("check", help="run the stages on your code")
    check.add_argument("subject", nargs="?")
    check.add_argument("--stage", help="only this stage (number or slug)")
    check.add_argument("--all", action="store_true",
                       help="every stage, past a failing one")
    check.add_argument("--watch", action="store_true", help="again on every save")
    check.add_argument("--capstone", action="store_true",
                       help="the scenario programs on your code (after the last stage)")
    check.set_defaults(run=cmd_check)

    hint = add("hint", help="the current stage's next hint")
    hint.add_argument("subject", nargs="?")
    hint.set_defaults(run=cmd_hint)

    progress = add("progress", help="stages passed, per subject")
    progress.set_defaults(run=cmd_progress)

    solution = add("solution", help="our code for a stage you have passed")
    solution.add_argument("subject")
    solution.add_argument("stage")
    solution.set_defaults(run=cmd_solution)
    return parser


# ---- Where the learner's work is


def workdir(args, must_exist=True):
    path = args.dir
    if not path.name.isidentifier():
        raise Refusal(f"{path}: the folder's name is your package's name, so it must be "
                      "a Python identifier (mywork, my_work, ...)")
    if must_exist and not path.is_dir():
        raise Refusal(f"no {path}/ here: begin with `switchyard start SUBJECT` "
                      f"(subjects: {', '.join(manifest.names())}), "
                      "from the folder you want it in")
    return path


def started_subject(args, state):
    name = args.subject or state.subject
    if name is None:
        raise Refusal("which subject? `switchyard check SUBJECT`, one of "
                      + ", ".join(manifest.names()))
    subject = manifest.load(name)
    if not subject.folder(args.dir).is_dir():
        raise Refusal(f"you have not started {name}: `switchyard start {name}`")
    return subject


# ---- start


def cmd_start(args):
    subject = manifest.load(args.subject)
    work = workdir(args, must_exist=False)
    folder = subject.folder(work)
    texts = skeleton(subject)
    texts.setdefault("__init__.py", "")
    existing = [folder / name for name in texts if (folder / name).exists()]
    if existing and not args.force:
        raise Refusal("not overwriting your work: "
                      + ", ".join(str(p) for p in existing)
                      + " (--force overwrites; your progress stays)")
    folder.mkdir(parents=True, exist_ok=True)
    (work / "__init__.py").touch()
    for name, text in texts.items():
        (folder / name).write_text(text)
    state = State(work)
    state.subject = subject.name
    state.of(subject.name)
    state.save()
    first = subject.stages[0]
    site, book = first.links()
    print(f"{subject.title}: your skeleton is in {folder}/ "
          f"({len(subject.stages)} stages; {', '.join(sorted(texts))})")
    if subject.ours:
        print(f"ours until you replace them: {'; '.join(subject.ours)}")
    print(f"read first: {site}  (book: {book})")
    print(f"stage 1, {first.title}: write")
    for target in sorted(first.writes, key=lambda t: (t.file, segment(texts[t.file], t.qualname)[1])):
        _, line = segment(texts[target.file], target.qualname)
        print(f"  {target.qualname:<32} {folder / target.file}:{line}")
    print(f"then: switchyard check {subject.name}")
    return 0


# ---- check


def cmd_check(args):
    work = workdir(args)
    state = State(work)
    subject = started_subject(args, state)
    if not args.watch:
        return check_once(args, subject, work, state)
    try:
        return watch(args, subject, work, state)
    except KeyboardInterrupt:
        print("\nswitchyard: stopped watching")
        return 130


def check_once(args, subject, work, state):
    if args.capstone:
        return capstone(subject, work)
    stages = [subject.stage(args.stage)] if args.stage else list(subject.stages)
    folder = subject.folder(work)
    mine = sorted(p.name for p in folder.glob("*.py") if p.name != "__init__.py")
    print(f"[switchyard] {subject.title}: yours: {', '.join(mine)} in {folder}/")
    if subject.ours:
        print(f"[switchyard] ours: {'; '.join(subject.ours)}")
    outcome = checking.run(subject, work, stages, run_all=args.all)
    failing = outcome.failed
    if args.stage and failing is None and state.of(subject.name).get("failing") != stages[0].slug:
        failing = _number(subject, state.of(subject.name).get("failing"))
    state.record(subject, outcome.passed, failing)
    state.save()
    if outcome.failed is None and outcome.problem is None:
        if len(outcome.passed) == len(subject.stages):
            capstone = f"`switchyard check {subject.name} --capstone`; " if subject.capstone else ""
            print(f"[switchyard] every stage of {subject.name} passes: well done. Next: "
                  f"{capstone}`switchyard solution {subject.name} N` shows ours, stage by stage.")
        return 0
    return 1


def capstone(subject, work):
    if subject.capstone is None:
        raise Refusal(f"{subject.name} has no capstone yet")
    print(f"[capstone] {subject.title}: the scenario programs on your code "
          f"({', '.join(subject.ours) or 'all of it yours'})")
    outcome = checking.run(subject, work, (), capstone=True)
    failed = outcome.failed is not None or outcome.problem is not None
    if subject.capstone == "libev" and not failed:
        print("[capstone] gevent's own loop-level test modules, on your loop:")
        failed = checking.gevent_suite(subject, work) != 0
    return 1 if failed else 0


def _number(subject, slug):
    return next((s.number for s in subject.stages if s.slug == slug), None)


def watch(args, subject, work, state):
    folder = subject.folder(work)
    seen = None
    while True:
        stamp = sorted((p.name, p.stat().st_mtime_ns) for p in folder.glob("*.py"))
        if stamp != seen:
            seen = stamp
            check_once(args, subject, work, state)
            print(f"[switchyard] watching {folder}/ for changes (Ctrl-C to stop)")
        time.sleep(WATCH_PERIOD)


# ---- hint, progress, solution


def cmd_hint(args):
    work = workdir(args)
    state = State(work)
    subject = started_subject(args, state)
    stage = state.current(subject)
    if stage is None:
        print(f"every stage of {subject.name} passes: no hint needed")
        return 0
    if not stage.hints:
        print(f"stage {stage.number} ({stage.slug}) has no hints; read {stage.links()[0]}")
        return 0
    shown = state.of(subject.name)["hints"]
    count = shown.get(stage.slug, 0) % len(stage.hints) + 1
    shown[stage.slug] = count
    state.save()
    label = "the answer" if count == len(stage.hints) and count > 1 else f"hint {count}"
    print(f"[stage {stage.number}/{len(subject.stages)}] {stage.title}: "
          f"{label} (of {len(stage.hints)})")
    print(f"  {stage.hints[count - 1]}")
    if count < len(stage.hints):
        print("  (`switchyard hint` again for the next)")
    return 0


def cmd_progress(args):
    work = workdir(args)
    state = State(work)
    rows = []
    for name in manifest.names():
        subject = manifest.load(name)
        if not subject.folder(work).is_dir():
            rows.append((name, f"0/{len(subject.stages)}", f"`switchyard start {name}`"))
            continue
        passed = len(state.of(name)["passed"])
        current = state.current(subject)
        rows.append((name, f"{passed}/{len(subject.stages)}",
                     f"{current.number} {current.slug}" if current else "done"))
    width = max(len(row[0]) for row in rows)
    print(f"{'subject':<{width}}  passed  current")
    for name, passed, current in rows:
        print(f"{name:<{width}}  {passed:>6}  {current}")
    print(f"progress file: {state.path} (copy it with your folder)")
    return 0


def cmd_solution(args):
    work = workdir(args)
    subject = manifest.load(args.subject)
    stage = subject.stage(args.stage)
    if stage.slug not in State(work).of(subject.name)["passed"]:
        raise Refusal(f"pass stage {stage.number} ({stage.slug}) first: "
                      f"`switchyard check {subject.name}`; stuck? `switchyard hint`")
    for target in stage.writes:
        path = subject.package / target.file
        text, line = segment(path.read_text(), target.qualname)
        print(f"# {path.relative_to(manifest.ROOT)}:{line} ({target.qualname})")
        print(text)
    print(f"# explained in {stage.links()[0]}  (book: {stage.links()[1]})")
    return 0
