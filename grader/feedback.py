"""Feedback from a result record: the student's HTML page and the instructor's notebook.

``grader.grade`` turns a submission into a result record (status, score, and for each notebook
the steps that ran, with outputs and test verdicts). ``feedback_html`` / ``write_feedback``
make the page a student reads; ``autograded_notebook`` an nbformat v4 notebook of what ran,
for the instructor (it keeps the grader's test details).

All student-produced content is hostile. ``feedback_html`` guarantees:

- every string from the record is HTML-escaped (ANSI codes, control characters and lone
  surrogates removed first): the only markup is what this module writes;
- student markdown is shown as escaped text; instructor markdown is rendered by mistune with
  raw HTML escaped, links only to http(s), mailto or relative addresses (others become text),
  images as links, never ``<img>``;
- an output becomes an ``<img>`` only for ``image/png`` / ``image/jpeg`` holding strict base64
  (at most ``IMAGE_LIMIT`` characters) of bytes with that format's signature, as a ``data:``
  URL; else its ``text/plain`` or a note: no other MIME type (HTML, SVG, JS, ...) is emitted;
- a Content-Security-Policy meta tag (``CSP``) forbids scripts, frames and external loads;
- each text is cut at ``TEXT_LIMIT`` characters; past ``PAGE_LIMIT`` characters, outputs and
  code are left out (one note says so), and nothing is added past ``PAGE_LIMIT + PAGE_SLACK``;
- test ``details``, a notebook's ``log`` and ``evidence``, and what tests with hidden checks
  printed (``output``) never appear.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import mistune
from mistune.renderers.html import HTMLRenderer

TEXT_LIMIT = 20_000  # characters of one output, code cell or message shown on the page
IMAGE_LIMIT = 2_000_000  # characters of one base64 image
PAGE_LIMIT = 5_000_000  # characters of the page after which outputs become a note
PAGE_SLACK = 500_000  # past PAGE_LIMIT + PAGE_SLACK nothing more is added at all
NOTEBOOK_TEXT_LIMIT = 1_000_000  # characters of one text kept in the instructor's notebook
LEFT_OUT = "The rest of the outputs and code are not shown: this page reached its size limit."
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
IMAGE_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
STATUS_TEXT = {
    "tampered": "your code changed something the tests rely on, so it gets no score",
    "uses_reference": "an answer uses the course's own implementation instead of your code",
    "timeout": "a cell ran past its time limit",
    "crashed": "the notebook's Python process stopped while it ran",
    "invalid_json": "the notebook file is not valid JSON",
    "not_a_notebook": "the file is not a Jupyter notebook",
    "empty_notebook": "the notebook has no cells",
    "too_large": "the notebook file is too large",
    "not_a_regular_file": "the submission is not a regular file",
    "missing_notebook": "the notebook was not found in the submission",
}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: .5rem;
      border-radius: 4px; margin: .25rem 0; }
pre.code { border-left: 3px solid #999; }  pre.stderr, pre.error { background: #fdecea; }
pre.error { color: #8a1c1c; }  .note { color: #666; font-style: italic; }
.label { color: #666; font-size: .85em; margin-top: 1.2rem; }  .message { white-space: pre-wrap; }
.verdict { padding: .5rem .75rem; border-radius: 4px; margin: .5rem 0 1rem; }
.passed { background: #e6f4ea; border: 1px solid #2e7d32; color: #1b5e20; }
.failed { background: #fdecea; border: 1px solid #c62828; color: #8a1c1c; }
.score { font-size: 1.4em; font-weight: bold; }  img.output { max-width: 100%; }
"""

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\t\n\r ]*")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")


# ---------------------------------------------------------------------------- text helpers
def _raw(value: Any) -> str:
    """A notebook text field (a str or a list of str) as one str; anything else is ''."""
    if isinstance(value, list):
        return "".join(part for part in value if isinstance(part, str))
    return value if isinstance(value, str) else ""


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters not shown]"


def _clean(value: Any, limit: int = TEXT_LIMIT) -> str:
    """Cut, then drop ANSI codes and replace control characters and lone surrogates."""
    return _CONTROL.sub("\ufffd", _ANSI.sub("", _cap(_raw(value), limit)))


def _esc(value: Any, limit: int = TEXT_LIMIT) -> str:
    return html.escape(_clean(value, limit), quote=True)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _num(value: Any) -> str:
    return "?" if _number(value) is None else f"{value:g}"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>\n'


# -------------------------------------------------------------------------------- markdown
def _safe_href(url: str) -> bool:
    """Whether a link goes to http(s), mailto or a relative address (after unescaping)."""
    plain = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(unquote(url))).lower()
    scheme = _SCHEME.match(plain)
    return scheme is None or scheme.group(1) in ("http", "https", "mailto")


class _Renderer(HTMLRenderer):
    """mistune's HTML renderer with raw HTML escaped, unsafe links as text, images as links."""

    def inline_html(self, raw: str) -> str:
        return html.escape(raw)

    def block_html(self, raw: str) -> str:
        return f"<p>{html.escape(raw.strip())}</p>\n"

    def link(self, text: str, url: str, title: str | None = None) -> str:
        return super().link(text, url, title) if _safe_href(url) else text

    def image(self, text: str, url: str, title: str | None = None) -> str:
        return self.link(text or html.escape(url), url, title)


_markdown = mistune.create_markdown(escape=True, renderer=_Renderer(escape=True),
                                    plugins=["strikethrough", "table"])


# --------------------------------------------------------------------------------- outputs
def _image(value: Any, signature: bytes) -> str:
    """The base64 text of a valid image value, without whitespace; '' if it is not one."""
    text = _raw(value)
    if not text or len(text) > IMAGE_LIMIT or not _BASE64.fullmatch(text):
        return ""
    compact = re.sub(r"[\t\n\r ]", "", text)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return compact if data.startswith(signature) else ""


def _output_html(output: Any) -> str:
    if not isinstance(output, dict):
        return _note("output not shown")
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return f'<pre class="{name}">{_esc(output.get("text"))}</pre>\n'
    if kind == "error":
        lines = [_raw(output.get("ename")) + ": " + _raw(output.get("evalue"))]
        lines += [line for line in _list(output.get("traceback")) if isinstance(line, str)]
        return f'<pre class="error">{_esc(chr(10).join(lines))}</pre>\n'
    if kind in ("display_data", "execute_result"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        for mime, signature in IMAGE_TYPES.items():
            b64 = _image(data.get(mime), signature)
            if b64:
                return f'<img class="output" alt="output image" src="data:{mime};base64,{b64}">\n'
        if isinstance(data.get("text/plain"), (str, list)):
            return f'<pre class="result">{_esc(data["text/plain"])}</pre>\n'
        kinds = ", ".join(_clean(str(key), 80) for key in list(data)[:5])
        return _note(f"output not shown ({kinds or 'empty'})")
    return _note("output not shown")


# ------------------------------------------------------------------------------------ page
class _Page:
    """The page's parts; past PAGE_LIMIT droppable parts are left out (one note says so)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size, self.full = 0, False

    def add(self, piece: str, droppable: bool = True) -> None:
        if self.size > PAGE_LIMIT + PAGE_SLACK:
            return
        if droppable and (self.full or self.size + len(piece) > PAGE_LIMIT):
            piece, self.full = ("" if self.full else _note(LEFT_OUT)), True
        if self.size + len(piece) > PAGE_LIMIT + PAGE_SLACK:
            piece, self.size = _note(LEFT_OUT), PAGE_LIMIT + PAGE_SLACK  # and nothing more
        self.parts.append(piece)
        self.size += len(piece)


def _verdict(test: dict) -> tuple[str, str]:
    """(css class, 'passed (P / P points)' or 'failed (...)' or 'timed out (...)')."""
    points = f"{_num(test.get('points'))} / {_num(test.get('max_points'))} points"
    if test.get("timed_out"):
        return "failed", f"timed out ({points})"
    if test.get("passed") is True:
        return "passed", f"passed ({points})"
    return "failed", f"failed ({points})"


def _add_test(test: dict, page: _Page) -> None:
    """The verdict box (always shown, whatever the page's size) and, if allowed, the output."""
    css, verdict = _verdict(test)
    box = f'<div class="verdict {css}"><strong>{verdict}</strong>'
    if css == "failed" and _raw(test.get("message")):
        box += f': <span class="message">{_esc(test.get("message"), 5000)}</span>'
    if test.get("hidden"):
        box += _note("This test has hidden checks: what it printed is not shown.")
    page.add(box, False)
    if not test.get("hidden") and _raw(test.get("output")):
        page.add(f'<pre class="stdout">{_esc(test.get("output"))}</pre>')
    page.add("</div>\n", False)


def _header(record: dict, page: _Page) -> None:
    status = _raw(record.get("status")) or "unknown"
    detail = _esc(record.get("detail"), 2000)
    notes = [note for nb in _notebooks(record) for note in _list(nb.get("notes"))]
    if status == "graded" and _number(record.get("score")) is not None:
        score = f"{_num(record.get('score'))} / {_num(record.get('max_score'))}"
        page.add(f'<p class="score">Score: {score}</p>\n', False)
        if detail and not notes:  # for a graded record, the detail is its notes
            page.add(f'<p class="detail">{detail}</p>\n', False)
    else:
        explain = html.escape(STATUS_TEXT.get(status, "see below"))
        page.add(f'<div class="verdict failed"><strong>Not graded: {_esc(status, 80)}</strong>'
                 f' — {explain}<p class="detail">{detail}</p></div>\n', False)
    if notes:
        items = "".join(f"<li>{_esc(note, 2000)}</li>" for note in notes[:50])
        page.add(f'<ul class="notes">{items}</ul>\n', False)


def _notebooks(record: dict) -> list[dict]:
    return [nb for nb in _list(record.get("notebooks")) if isinstance(nb, dict)]


def _notebook(nb: dict, page: _Page) -> None:
    page.add(f"<h2>{_esc(nb.get('name'), 200)}</h2>\n", False)
    items = []
    for test in (t for t in _list(nb.get("tests")) if isinstance(t, dict)):
        css, verdict = _verdict(test)
        items.append(f'<li class="{css}">{_esc(test.get("grade_id"), 200)}: {verdict}</li>')
    if items:
        page.add(f'<ul class="summary">{"".join(items[:500])}</ul>\n', False)
    if _raw(nb.get("crashed")):
        page.add(_note("The notebook stopped: " + _clean(nb.get("crashed"), 2000)), False)
    after_hidden = False  # code that runs after hidden tests could print their inputs
    for step in (s for s in _list(nb.get("steps")) if isinstance(s, dict)):
        kind, label = step.get("kind"), _esc(step.get("label"), 200)
        if kind == "markdown":
            if step.get("trusted") is True:
                page.add(f'<div class="markdown">{_markdown(_clean(step.get("code")))}</div>\n')
            else:
                page.add(f'<div class="label">your markdown cell · {label}</div>\n'
                         f'<pre class="markdown">{_esc(step.get("code"))}</pre>\n')
            continue
        title = {"student": "your code", "locked": "given code", "test": "test"}.get(kind, "cell")
        page.add(f'<div class="label">{title} · {label}</div>\n', False)
        page.add(f'<pre class="code">{_esc(step.get("code"))}</pre>\n')
        if kind == "test":
            test = step.get("test") if isinstance(step.get("test"), dict) else {}
            _add_test(test, page)
            after_hidden = after_hidden or test.get("hidden") is True
        elif step.get("skipped"):
            page.add(_note("not run (the notebook had stopped)"), False)
        elif after_hidden and _list(step.get("outputs")):
            page.add(_note("output not shown: this cell ran after tests with hidden inputs, and "
                           "what it printed could show them"), False)
        else:
            for output in _list(step.get("outputs")):
                page.add(_output_html(output))


def feedback_html(record: dict) -> str:
    """The student's feedback page (a complete HTML document) for one result record."""
    who = _clean(record.get("student"), 200)
    title = f"Feedback: {_clean(record.get('assignment'), 200)} — {who}"
    page = _Page()
    page.add('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
             '<meta name="referrer" content="no-referrer">\n'
             f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
             f"<h1>{html.escape(title)}</h1>\n", False)
    _header(record, page)
    for nb in _notebooks(record):
        _notebook(nb, page)
    page.parts.append("</body></html>\n")
    return "".join(page.parts)


def write_feedback(record: dict, path: Path) -> None:
    """Write ``feedback_html(record)`` to ``path`` (its folder made if needed), UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(feedback_html(record), encoding="utf-8", errors="replace")


# -------------------------------------------------------------------- instructor's notebook
def _plain(value: Any, limit: int = NOTEBOOK_TEXT_LIMIT) -> str:
    return _SURROGATE.sub("\ufffd", _cap(_raw(value), limit))


def _notebook_output(output: Any) -> dict:
    """An output rebuilt from its known fields, so that the notebook stays valid."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return {"output_type": "stream", "name": name, "text": _plain(output.get("text"))}
    if kind == "error":
        traceback = _list(output.get("traceback"))
        return {"output_type": "error", "ename": _plain(output.get("ename")),
                "evalue": _plain(output.get("evalue")),
                "traceback": [_plain(line) for line in traceback[:1000] if isinstance(line, str)]}
    if kind in ("display_data", "execute_result"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        # Plain text and real PNG/JPEG images only: nothing that a notebook viewer would run or
        # render as markup (HTML, SVG, JavaScript), whatever the worker's reply claims
        kept = {mime: image for mime, signature in IMAGE_TYPES.items()
                if (image := _image(data.get(mime), signature))}
        if isinstance(data.get("text/plain"), (str, list)):
            kept["text/plain"] = _plain(data["text/plain"])
        result = {"output_type": kind, "data": kept or {"text/plain": "[output not kept]"},
                  "metadata": {}}
        return result | ({"execution_count": None} if kind == "execute_result" else {})
    return {"output_type": "stream", "name": "stderr", "text": "[output not kept]\n"}


def _test_report(test: dict) -> str:
    _, verdict = _verdict(test)
    parts = [f"[grader] {_plain(test.get('grade_id'), 200)}: {verdict}"]
    for field in ("message", "output", "details"):
        if _raw(test.get(field)):
            parts.append(f"--- {field} ---\n{_plain(test.get(field))}")
    return "\n".join(parts) + "\n"


def autograded_notebook(record: dict, notebook: dict) -> dict:
    """An nbformat v4 notebook of what ran for ``notebook`` (one of ``record["notebooks"]``).

    For the instructor: it holds test details. Markdown steps become markdown cells, code
    steps code cells with their outputs, test steps code cells with one stream output (verdict,
    message, printed output, details). ``metadata["grader"]`` holds the record's status."""
    cells: list[dict] = []
    for index, step in enumerate(s for s in _list(notebook.get("steps")) if isinstance(s, dict)):
        cell: dict = {"id": f"cell-{index}", "source": _plain(step.get("code")),
                      "metadata": {"grader": {"kind": _plain(step.get("kind"), 50),
                                              "label": _plain(step.get("label"), 200)}}}
        if step.get("kind") == "markdown":
            cells.append(cell | {"cell_type": "markdown"})
            continue
        if step.get("kind") == "test":
            test = step.get("test") if isinstance(step.get("test"), dict) else {}
            outputs = [{"output_type": "stream", "name": "stdout", "text": _test_report(test)}]
        else:
            outputs = [_notebook_output(output) for output in _list(step.get("outputs"))]
            cell["metadata"]["grader"]["skipped"] = bool(step.get("skipped"))
        cells.append(cell | {"cell_type": "code", "execution_count": None, "outputs": outputs})
    grader = {key: _plain(record.get(key), 200) for key in ("student", "assignment", "status")}
    grader |= {
        "notebook": _plain(notebook.get("name"), 200), "detail": _plain(record.get("detail")),
        "score": _number(record.get("score")), "max_score": _number(record.get("max_score")),
        "notes": [_plain(n) for n in _list(notebook.get("notes")) if isinstance(n, str)],
        "evidence": [_plain(e) for e in _list(notebook.get("evidence")) if isinstance(e, str)],
        "crashed": _plain(notebook.get("crashed")),
        "log": _plain(notebook.get("log")),
    }
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}, "grader": grader}}
