"""The course's grader: ``python -m grader --help``.

- ``release.py``     ``release [--check]``: ``exercises/`` generated from ``solutions/`` (nbgrader).
- ``autograde.py``   ``autograde SUBMISSIONS --out DIR``: the batch, one grading process per
                     submission, ``--jobs`` at a time, ``--shard I/N``; grades.csv and feedback.
- ``merge.py``       ``merge OUT1 OUT2 ... --out DIR``: join the outputs of shards.
- ``submissions.py`` finding and safely reading submissions; checks before any code runs.
- ``plan.py``        what runs: the student's cells, the source's test and locked cells.
- ``grade.py``       one submission: run the plan, judge the tests, decide the status.
- ``judge.py``       test cells, run in the grader's process; their ``@probe`` parts sent out.
- ``session.py``     the grader's side of one worker: requests, interrupts that name their
                     request, CPU-second limits with a wall-clock backstop, kill.
- ``kernel.py``      the worker: the student's cells and probes, interrupts, tamper evidence.
- ``shell.py``       the worker's IPython shell: cells run, outputs captured and capped.
- ``evidence.py``    what the worker checks: replaced functions and hooks, references reused.
- ``sandbox.py``     the worker's Linux sandbox (namespaces, read-only root, limits).
- ``cpu_time.py``    CPU seconds of a worker's process tree, read from ``/proc``.
- ``feedback.py``    the student's HTML page and the instructor's notebook copy.
- ``course.py``      course roots and nbgrader runs (release only).
- ``cluster/``       a Slurm array script for sharded grading.
"""
