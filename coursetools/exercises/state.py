"""The progress file, ``mywork/progress.json``: small, readable, safe to copy.

    {"subject": "ioloop",                       # the last one started or checked
     "subjects": {"ioloop": {"passed": ["callbacks", ...],   # stage slugs
                             "failing": "timers",            # the last check's first failure
                             "hints": {"timers": 2}}}}       # hints shown per stage

Stages are named by slug, so that a manifest that gains a stage keeps the progress.
A stage once passed stays passed (its solution stays readable) even if a later edit
breaks it: ``failing`` is what ``check`` found last.
"""
import json
from pathlib import Path

NAME = "progress.json"


class State:
    def __init__(self, workdir):
        self.path = Path(workdir) / NAME
        try:
            self.data = json.loads(self.path.read_text())
        except FileNotFoundError:
            self.data = {}
        self.data.setdefault("subjects", {})

    def save(self):
        tmp = self.path.with_suffix(".tmp")  # a crash mid-write must not lose progress
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)

    def of(self, name):
        entry = self.data["subjects"].setdefault(name, {})
        entry.setdefault("passed", [])
        entry.setdefault("hints", {})
        return entry

    @property
    def subject(self):
        return self.data.get("subject")

    @subject.setter
    def subject(self, name):
        self.data["subject"] = name

    def current(self, subject):
        """The stage to work on: the last check's failure, or the first not passed."""
        entry = self.of(subject.name)
        for stage in subject.stages:
            if stage.slug == entry.get("failing") or stage.slug not in entry["passed"]:
                return stage
        return None

    def record(self, subject, passed, failing):
        entry = self.of(subject.name)
        entry["passed"] = [s.slug for s in subject.stages
                           if s.slug in entry["passed"] or s.number in passed]
        entry["failing"] = subject.stages[failing - 1].slug if failing else None
        self.subject = subject.name
