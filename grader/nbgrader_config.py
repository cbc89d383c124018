"""nbgrader configuration of the causal-conv course (nbgrader 0.9.6).

Do not run nbgrader from the repository with this file: ``python -m grader`` copies it, together
with ``feedback_filter.py``, into a fresh course root (a temporary folder for ``release``, the
``--out`` folder for ``autograde``), so that no gradebook or student file is ever written into the
repository. The course root is the folder this file sits in. Inside such a folder (e.g. after
``python -m grader autograde ... --out .grading``) plain ``nbgrader`` commands and the formgrader
work as usual.

- ``solutions/`` holds the nbgrader source notebooks, ``exercises/`` the released ones.
- Every cell has a time limit; ``python -m grader autograde --timeout`` overrides it.
- The kernel is fixed to ``python3``, the Python that runs nbgrader: a submission's kernelspec
  (stripped, renamed, or the course's "causal-conv-course" kernel that is not installed on the
  grading machine) never decides what runs it.
- Cells deleted by a student are put back from the source notebook.
- Feedback hides the hidden tests: their source (``ClearHiddenTests``) and what their outputs
  could reveal (``feedback_filter.HideHiddenTestOutputs``).
"""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
if here not in sys.path:
    sys.path.insert(0, here)

from feedback_filter import HideHiddenTestOutputs  # noqa: E402
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when it reads this file)

c.CourseDirectory.root = here
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")

# per-cell time limit (seconds); an interrupted cell gets a CellTimeoutError output
c.ExecutePreprocessor.timeout = 60
c.ExecutePreprocessor.kernel_name = "python3"

# deleted test cells are put back from the gradebook (python -m grader refuses submissions whose
# answer cells lost their metadata first: nbgrader crashes on those)
c.OverwriteCells.add_missing_cells = True

c.GenerateFeedback.preprocessors = [
    GetGrades,
    HideHiddenTestOutputs,  # before ClearHiddenTests: it finds hidden cells by their markers
    ClearHiddenTests,
    CSSHTMLHeaderPreprocessor,
]
