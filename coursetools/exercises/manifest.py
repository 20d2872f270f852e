"""The manifests: one TOML file per subject in ``tests/conformance/stages/``.

    name = "ioloop"                     # what the learner types: switchyard start ioloop
    order = 2                           # its place in the course
    subject = "ioloop"                  # the conformance subject (--impl ioloop=...)
    title = "The Tornado IOLoop"
    package = "impls/ioloop"            # our implementation, the skeleton's source
    files = ["pollioloop.py", ...]      # copied into mywork/ioloop/, in this order
    module = "pollioloop"               # the namespace the conformance tests receive
    object = "name"                     # optional: a name in it, the namespace instead
    tests = "tests/conformance/test_ioloop.py"
    chapter = "ioloop.md"
    timeout = 10                        # seconds per stage, unless a stage says otherwise
    contract = ["IOLoop", "Future"]     # classes that must be the learner's (anti-cheat)
    ours = ["..."]                      # components that stay ours (reference fallback)
    capstone = "ioloop"                 # the capstone's kind (coursetools/exercises/capstone.py)

    [[stage]]
    slug = "callbacks"
    title = "Run callbacks in order"
    difficulty = "easy"
    section = "ioloop.md#callbacks"     # chapter file and heading slug
    writes = ["pollioloop.py:IOLoop.add_callback", ...]   # file:qualname
    tests = ["test_callbacks_run_in_the_order_they_were_added", ...]
    hints = ["a question?", "another question?", "the answer"]

A test is a test's name in the subject's test file (every parameter of it), or a node
id ``path::name`` from the repository root.
"""
import dataclasses
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
STAGES_DIR = ROOT / "tests" / "conformance" / "stages"
SITE = "http://127.0.0.1:8000"  # `make serve`
BOOK = "_build/sphinx/chapters"  # `make book`


SCENARIOS = "tests/conformance/test_scenarios.py"  # the capstones' programs
CAPSTONE_SECTION = "hub.md#one-program-every-runtime"
CAPSTONE_TIMEOUT = 180.0  # seconds: six scenarios, the largest 200 clients of 100 KiB


class ManifestError(Exception):
    """A manifest names something that does not exist."""


@dataclasses.dataclass(frozen=True)
class Target:
    file: str  # "pollioloop.py"
    qualname: str  # "IOLoop.add_callback"

    def __str__(self):
        return f"{self.file}:{self.qualname}"


@dataclasses.dataclass(frozen=True)
class Stage:
    number: int  # 1-based
    slug: str
    title: str
    difficulty: str
    section: str  # "ioloop.md#callbacks"
    writes: tuple  # of Target
    tests: tuple  # node ids from the repository root
    hints: tuple
    timeout: float

    def links(self):
        """Where the chapter explains this stage: the site and the book."""
        page, _, anchor = self.section.partition("#")
        stem = page.removesuffix(".md")
        return f"{SITE}/{stem}/#{anchor}", f"{BOOK}/{stem}.html#{anchor}"


@dataclasses.dataclass(frozen=True)
class Subject:
    name: str
    subject: str
    title: str
    package: Path  # absolute
    files: tuple
    module: str
    object: str | None  # a name in the module, if the namespace is not the module itself
    chapter: str
    contract: tuple  # the classes the tests take from the module: must be the learner's
    ours: tuple
    capstone: str | None  # the kind of coursetools.exercises.capstone, if there is one
    stages: tuple

    def capstone_stage(self):
        """The capstone as one more stage: the scenario programs on the learner's code."""
        return Stage(
            number=len(self.stages) + 1, slug="capstone", difficulty="hard",
            title="The capstone: one program, every runtime, and yours",
            section=CAPSTONE_SECTION, writes=tuple(t for s in self.stages for t in s.writes),
            tests=(SCENARIOS,), hints=(), timeout=CAPSTONE_TIMEOUT,
        )

    def folder(self, workdir):
        """Where the learner's copy lives: mywork/ioloop/."""
        return Path(workdir) / self.name

    def stage(self, key):
        """A stage by number (1-based, as a string or an int) or by slug."""
        for stage in self.stages:
            if str(key) in (str(stage.number), stage.slug):
                return stage
        valid = ", ".join(f"{s.number} ({s.slug})" for s in self.stages)
        raise ManifestError(f"{self.name} has no stage {key!r}; its stages: {valid}")

    def stage_of(self):
        """{Target: stage number} for every target of every stage."""
        return {target: stage.number for stage in self.stages for target in stage.writes}


def names():
    """The subjects, in the course's order (each manifest's ``order``)."""
    order = {path.stem: tomllib.loads(path.read_text()).get("order", 99)
             for path in STAGES_DIR.glob("*.toml")}
    return sorted(order, key=lambda name: (order[name], name))


def load(name):
    path = STAGES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ManifestError(
            f"no subject {name!r}; the subjects: {', '.join(names())}"
        )
    data = tomllib.loads(path.read_text())
    tests_file = data["tests"]
    timeout = float(data.get("timeout", 10))
    stages = []
    for number, raw in enumerate(data["stage"], 1):
        writes = tuple(Target(*w.split(":", 1)) for w in raw.get("writes", ()))
        tests = tuple(t if "::" in t else f"{tests_file}::{t}" for t in raw["tests"])
        stages.append(Stage(
            number=number, slug=raw["slug"], title=raw["title"],
            difficulty=raw.get("difficulty", "medium"), section=raw["section"],
            writes=writes, tests=tests, hints=tuple(raw.get("hints", ())),
            timeout=float(raw.get("timeout", timeout)),
        ))
    return Subject(
        name=data["name"], subject=data["subject"], title=data["title"],
        package=ROOT / data["package"], files=tuple(data["files"]), module=data["module"],
        object=data.get("object"),
        chapter=data["chapter"], contract=tuple(data.get("contract", ())),
        capstone=data.get("capstone"), ours=tuple(data.get("ours", ())), stages=tuple(stages),
    )
