"""The course's nbgrader tooling: ``python -m grader --help``.

- ``nbgrader_config.py`` — the course's nbgrader configuration (copied into each course root).
- ``feedback_filter.py`` — a preprocessor that keeps hidden tests out of feedback.
- ``course.py``          — course roots and nbgrader subprocesses with wall-clock limits.
- ``release.py``         — ``release [--check]``: ``exercises/`` generated from ``solutions/``.
- ``submissions.py``     — finding submissions; checks made before any kernel starts.
- ``autograde.py``       — ``autograde SUBMISSIONS --out DIR``: ``grades.csv`` and feedback.
"""
