"""nbgrader configuration of the causal-conv course (nbgrader 0.9.6), used to release exercises.

Do not run nbgrader from the repository with this file: ``python -m grader release`` copies it
into a fresh temporary course root, so that no gradebook is ever written into the repository.
The course root is the folder this file sits in. ``solutions/`` holds the nbgrader source
notebooks, ``exercises/`` the released ones.

Grading does not use nbgrader's ``autograde``: ``python -m grader autograde`` runs students' code
in a sandbox and the tests in its own process (see ``grader/autograde.py``). Students can still
check their work with nbgrader's *Validate* button or ``nbgrader validate``, which run the
notebook's test cells in their own kernel.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it reads this file)

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
c.ExecutePreprocessor.kernel_name = "python3"
