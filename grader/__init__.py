"""The course's grader: ``python -m grader --help``.

- ``release.py``     ``release [--check]``: ``exercises/`` generated from ``solutions/`` (nbgrader).
- ``autograde.py``   ``autograde SUBMISSIONS --out DIR``: the batch, one grading process per
                     submission, ``--jobs`` at a time, ``--shard I/N``; grades.csv and feedback.
- ``merge.py``       ``merge OUT1 OUT2 ... --out DIR``: join the outputs of shards.
- ``export.py``      ``export OUT ... --format canvas|moodle|wide``: the CSV an LMS imports.
- ``nbgrader_course.py`` ``autograde --nbgrader-course COURSE``: an nbgrader course's
                     ``submitted/`` in; scores to its gradebook, autograded/ and feedback/ out.
- ``submissions.py`` finding and safely reading submissions; checks before any code runs.
- ``plan.py``        what runs: the student's cells, the source's test and locked cells.
- ``grade.py``       one submission: run the plan, judge the tests, decide the status.
- ``judge.py``       test cells, run in the grader's process; their ``@probe`` parts sent out.
- ``session.py``     the grader's side of one worker: requests, interrupts that name their
                     request, CPU-second limits with a wall-clock backstop, kill.
- ``kernel.py``      the worker: the student's cells and probes, interrupts, tamper evidence.
- ``shell.py``       the worker's IPython shell: cells run, outputs captured and capped.
- ``evidence.py``    what the worker checks: replaced functions and hooks, references reused;
                     the tripwires that stop a reference from running while a test checks it.
- ``sandbox_init.py`` the namespace's init: the root it builds, the keyring and its seccomp filter.
- ``cgroups.py``     a cgroup per worker (v2 where delegated, v1 as root): CPU, memory, pids.
- ``sandbox.py``     the worker's Linux sandbox (namespaces, read-only root, limits).
- ``cpu_time.py``    CPU seconds of a worker's process tree, read from ``/proc``.
- ``feedback.py``    the student's HTML page and the instructor's notebook copy.
- ``course.py``      course roots and nbgrader runs (release only).
- ``cluster/``       Slurm scripts: sharded grading (an array) and the merge (a dependent job).
"""
