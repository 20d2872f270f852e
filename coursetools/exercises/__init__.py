"""Build it yourself: staged exercises graded by the conformance suite.

``switchyard start SUBJECT`` writes a skeleton of one of our implementations into the
learner's folder (``mywork/``): the functions a stage asks for keep their signatures and
docstrings, and their bodies become ``raise NotImplementedError("stage N: ...")``.
``switchyard check`` runs the stages in order, in a child process, with the conformance
suite's own tests (``--impl SUBJECT=mywork.ioloop.pollioloop``), and stops at the first
failing stage. The stages of each subject are listed in a manifest next to its tests,
``tests/conformance/stages/SUBJECT.toml``.

    manifest   the manifests: subjects, stages, targets, hints
    skeleton   a skeleton from our source: the targets' bodies cut out
    plugin     the pytest plugin of the child process: stage order, anti-cheat, events
    check      the parent side: runs the child, enforces timeouts, prints the report
    capstone   the scenario programs on the learner's code (``check --capstone``)
    state      the progress file in mywork/
    cli        the ``switchyard`` command
"""
