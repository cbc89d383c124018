"""An nbgrader preprocessor that keeps hidden tests out of the students' feedback.

nbgrader's ``ClearHiddenTests`` removes the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``
lines from a test cell's source, but the cell's *outputs* were produced by running those lines: a
failing hidden assert leaves a traceback that quotes the hidden code (IPython shows the lines around
the failing one), and anything printed while the hidden code ran (e.g. by a student's ``forward``
called from it) is kept too.

``HideHiddenTestOutputs`` must run *before* ``ClearHiddenTests`` (it finds the hidden cells by their
markers). For every cell that holds a hidden region it keeps only what a student needs to know:

- an error keeps its name and message (the hidden asserts are written so that their messages say
  what is wrong without quoting code); its traceback is replaced by that one line;
- printed text, rich outputs and results are dropped, with one line saying so.

This file is copied next to ``nbgrader_config.py`` into every course root that ``python -m grader``
builds, and imported from there as a top-level module.
"""

from __future__ import annotations

from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

NOTE = "(details of the hidden test are not shown)"


class HideHiddenTestOutputs(NbGraderPreprocessor):
    """Reduce the outputs of cells with hidden tests to their error name and message."""

    begin_marker = Unicode("BEGIN HIDDEN TESTS", help="Marks the start of a hidden region.").tag(
        config=True
    )

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code" or self.begin_marker not in cell.source:
            return cell, resources
        kept = []
        dropped = False
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                line = f"{output.ename}: {output.evalue}"
                output.traceback = [line, NOTE]
                kept.append(output)
            else:
                dropped = True
        if dropped:
            kept.insert(0, NotebookNode(output_type="stream", name="stdout",
                                        text="(output of a cell with hidden tests: not shown)\n"))
        cell.outputs = kept
        return cell, resources
