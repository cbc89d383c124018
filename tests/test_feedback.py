"""grader.feedback: the student's page escapes everything hostile, shows no instructor-only
text, stays small; the instructor's notebook is valid nbformat."""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import zlib
from html.parser import HTMLParser

import nbformat
import pytest

from grader import feedback
from grader.feedback import autograded_notebook, feedback_html, write_feedback

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = "</pre><img src=x onerror=alert(1)>"
ATTRIBUTE = '"><svg onload=alert(1)>'
JS_TEXT = "javascript:alert(1)"
SECRETS = ["SECRET-DETAILS-1", "SECRET-LOG-2", "SECRET-EVIDENCE-3", "SECRET-HIDDEN-OUTPUT-4",
           "SECRET-DETAILS-5"]


def png_b64() -> str:
    """A real 1x1 PNG, as base64 with a line break in it (as nbformat stores them)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", b"\0\0\0\1\0\0\0\1\x08\x02\0\0\0")
           + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0")) + chunk(b"IEND", b""))
    text = base64.b64encode(raw).decode()
    return text[:20] + "\n" + text[20:]


JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 40).decode()


def display(data: dict) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def make_test_step(grade_id: str, passed: bool, hidden: bool, marker: str, **extra) -> dict:
    test = {"grade_id": grade_id, "points": 2.0 if passed else 0.0, "max_points": 2.0,
            "passed": passed, "message": "" if passed else f"wrong shape {SCRIPT}",
            "output": f"printed {marker} {BREAKOUT}", "hidden": hidden, "timed_out": False,
            "details": f"Traceback {SECRETS[0]} assert hidden_check()", "seconds": 0.1}
    test.update(extra)
    return {"kind": "test", "label": grade_id, "code": f"assert f(1) == 2  # {SCRIPT}",
            "test": test}


def hostile_record() -> dict:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": SCRIPT + BREAKOUT + ATTRIBUTE},
        {"output_type": "stream", "name": "stderr", "text": f"\x1b[31mred {JS_TEXT}\x1b[0m"},
        display({"text/html": "<script>alert('html')</script>", "text/plain": "PLAIN-1"}),
        display({"image/svg+xml": "<svg onload=alert(1)></svg>"}),
        display({"application/javascript": "alert(1)", "text/markdown": "[x](javascript:y)"}),
        display({"image/png": '"><script>alert(1)</script>', "text/plain": "PLAIN-2"}),
        display({"image/png": "not base64 at all!", "text/plain": "PLAIN-3"}),
        display({"image/png": base64.b64encode(b"GIF89a not a png").decode()}),
        display({"image/png": png_b64(), "text/plain": "<Figure>"}),
        {"output_type": "execute_result", "data": {"image/jpeg": JPEG}, "metadata": {},
         "execution_count": 3},
        {"output_type": "error", "ename": "ValueError", "evalue": f"bad {BREAKOUT}",
         "traceback": ["\x1b[0;31mValueError\x1b[0m: bad <b>", "line\x00with NUL \ud800"]},
        "not even a dict",
        {"output_type": "stream", "name": "stdout", "text": ["list ", "of ", "text 😀𝔘"]},
    ]
    steps = [
        {"kind": "markdown", "label": "intro", "trusted": True,
         "code": f"# Task\n\n**bold** {SCRIPT} [ok](https://example.org/a) "
                 "[bad](javascript:alert(1)) [bad2](jav&#x09;ascript:alert(1)) "
                 "[bad3](data:text/html,x) ![pic](http://evil.example/x.png)"},
        {"kind": "markdown", "label": "mine", "trusted": False,
         "code": f"<b>hi</b> {SCRIPT} [x](javascript:alert(1)) **not rendered**"},
        {"kind": "locked", "label": "setup", "code": "import torch", "outputs": []},
        {"kind": "student", "label": "answer", "code": f"print('{SCRIPT}')", "outputs": outputs},
        make_test_step("test_visible", False, False, "VISIBLE-OUTPUT"),
        make_test_step("test_hidden_pass", True, True, SECRETS[3]),
        make_test_step("test_hidden_fail", False, True, SECRETS[3],
                  message="hidden check failed: got <i>"),
        make_test_step("test_slow", False, False, "SLOW", timed_out=True, message="ran past 60 s"),
        {"kind": "student", "label": "later", "code": "x = 1", "outputs": [], "skipped": True},
    ]
    tests = [s["test"] for s in steps if s["kind"] == "test"]
    tests.append({**tests[0], "grade_id": "test_never_run", "details": SECRETS[4],
                  "message": "not run: the kernel died"})
    notebook = {"name": "02_causal_conv1d", "steps": steps, "tests": tests,
                "notes": [f"note {SCRIPT}"], "evidence": [f"tampered: {SECRETS[2]}"],
                "crashed": "", "timed_out": ["test_slow"], "log": f"worker log {SECRETS[1]}"}
    return {"student": f"alice{SCRIPT}", "assignment": "02_causal_conv1d", "status": "graded",
            "detail": "", "score": 2.0, "max_score": 8.0, "notebooks": [notebook]}


class Audit(HTMLParser):
    """Every tag and attribute of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "h5",
                "h6", "p", "div", "span", "pre", "code", "ul", "ol", "li", "strong", "em", "a",
                "img", "br", "hr", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
                "del"}


def assert_inert(page: str) -> None:
    """No active content, no external resources, only markup from an allow-list."""
    lower = page.lower()
    for bad in ("<script", "<iframe", "<object", "<embed", "<svg", "<link", "<base", "<form"):
        assert bad not in lower
    assert not re.search(r"<[^>]*\son\w+\s*=", lower)  # no event handler inside any tag
    audit = Audit()
    audit.feed(page)
    for tag, attrs in audit.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            value = re.sub(r"[\x00-\x20]", "", value or "").lower()
            assert "javascript:" not in value and "vbscript:" not in value, (tag, value)
            if name == "src":
                assert re.fullmatch(r"data:image/(png|jpeg);base64,[a-z0-9+/=]+", value), value
            if name == "href":
                assert re.match(r"(https?:|mailto:|#|[^:]*$)", value), value
        if tag == "meta" and attrs.get("http-equiv"):
            assert attrs["content"] == feedback.CSP


@pytest.fixture(scope="module")
def page() -> str:
    return feedback_html(hostile_record())


def test_page_has_no_active_content(page):
    assert_inert(page)


def test_student_text_is_escaped(page):
    for payload in (SCRIPT, BREAKOUT, ATTRIBUTE, f"bad {BREAKOUT}"):
        assert html.escape(payload) in page
    assert "<b>hi</b>" not in page and html.escape("<b>hi</b>") in page  # student markdown
    assert "**not rendered**" in page  # shown as text, not as <strong>
    assert html.escape("[x](javascript:alert(1))") in page


def test_csp_meta_in_head(page):
    head = page[:page.index("</head>")]
    assert (f'<meta http-equiv="Content-Security-Policy" content="{feedback.CSP}">' in head)
    assert feedback.CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def test_rich_outputs(page):
    assert "PLAIN-1" in page and "PLAIN-2" in page and "PLAIN-3" in page
    assert "alert(&#x27;html&#x27;)" not in page  # the text/html value is not shown at all
    assert 'src="data:image/png;base64,' + png_b64().replace("\n", "") + '"' in page
    assert f'src="data:image/jpeg;base64,{JPEG}"' in page
    assert page.count("<img") == 2  # the forged PNGs are not images
    assert "output not shown (image/svg+xml)" in page
    assert "output not shown (application/javascript, text/markdown)" in page


def test_errors_streams_and_odd_characters(page):
    assert "ValueError: bad &lt;/pre&gt;" in page
    assert "\x1b" not in page and "\x00" not in page
    assert "red javascript:alert(1)" in page  # ANSI codes dropped, text kept (escaped)
    assert '<pre class="stderr">' in page
    assert "list of text 😀𝔘" in page
    assert "output not shown" in page  # the output that is not a dict


def test_instructor_markdown(page):
    assert "<h1>Task</h1>" in page and "<strong>bold</strong>" in page
    assert html.escape(SCRIPT) in page
    assert '<a href="https://example.org/a">ok</a>' in page
    for text in ("bad", "bad2", "bad3"):
        assert f">{text}</a>" not in page
    assert "evil.example" not in re.findall(r'src="([^"]*)"', page)


def test_instructor_only_text_never_shown(page):
    for secret in SECRETS:
        assert secret not in page


def test_verdicts(page):
    assert "Feedback: 02_causal_conv1d — alice&lt;script&gt;" in page
    assert "Score: 2 / 8" in page
    assert "failed (0 / 2 points)</strong>: <span class=\"message\">wrong shape &lt;script" in page
    assert "VISIBLE-OUTPUT" in page  # a test without hidden checks shows what it printed
    assert "passed (2 / 2 points)" in page
    assert ('failed (0 / 2 points)</strong>: <span class="message">hidden check failed: '
            "got &lt;i&gt;</span>") in page
    assert page.count("This test has hidden checks") == 2
    assert "timed out (0 / 2 points)" in page
    assert "test_never_run: failed (0 / 2 points)" in page  # in the notebook's summary
    assert "not run" in page
    assert "note &lt;script&gt;" in page


@pytest.mark.parametrize("status", ["tampered", "timeout", "invalid_json", "something_new"])
def test_status_without_score(status):
    record = {"student": "bob", "assignment": "01_x", "status": status,
              "detail": "cell answer ran past <b>the limit</b>; partial score 3/8",
              "score": None, "max_score": 8.0, "notebooks": []}
    page = feedback_html(record)
    assert_inert(page)
    assert f"Not graded: {status}</strong>" in page
    assert "cell answer ran past &lt;b&gt;the limit&lt;/b&gt;; partial score 3/8" in page
    assert "Score:" not in page


def test_output_text_is_capped():
    record = hostile_record()
    text = "y" * (feedback.TEXT_LIMIT + 12345)
    record["notebooks"][0]["steps"][3]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": text}]
    page = feedback_html(record)
    assert "y" * feedback.TEXT_LIMIT in page and "y" * (feedback.TEXT_LIMIT + 1) not in page
    assert "[... 12345 more characters not shown]" in page


def test_page_is_capped():
    record = hostile_record()
    big = {"output_type": "stream", "name": "stdout", "text": "<" * feedback.TEXT_LIMIT}
    image = display({"image/png": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 1_400_000)
                     .decode()})
    step = record["notebooks"][0]["steps"][3]
    step["outputs"] = [image] * 2 + [big] * 40 + [{**big, "text": "LATE-OUTPUT"}]
    record["notebooks"][0]["steps"] += [copy.deepcopy(step) for _ in range(3)]
    page = feedback_html(record)
    assert len(page) <= feedback.PAGE_LIMIT + 10_000
    assert page.count(feedback.LEFT_OUT) == 1 and "LATE-OUTPUT" not in page
    assert "timed out (0 / 2 points)</strong>: <span class=\"message\">ran past" in page
    assert page.endswith("</body></html>\n")
    assert_inert(page)


def test_page_has_a_hard_limit():
    steps = [{"kind": "student", "label": f"{i:05d}" + "L" * 300, "code": "", "outputs": []}
             for i in range(30_000)]
    record = {"student": "s", "assignment": "a", "status": "graded", "score": 0.0,
              "max_score": 1.0, "notebooks": [{"name": "n", "steps": steps}]}
    page = feedback_html(record)
    assert len(page) <= feedback.PAGE_LIMIT + feedback.PAGE_SLACK + 1000
    assert page.endswith(f"{html.escape(feedback.LEFT_OUT)}</p>\n</body></html>\n")


def test_huge_image_is_not_shown():
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * feedback.IMAGE_LIMIT).decode()
    record = hostile_record()
    record["notebooks"][0]["steps"][3]["outputs"] = [display({"image/png": data})]
    assert "<img" not in feedback_html(record)


def test_malformed_record_does_not_break_the_page():
    record = {"student": None, "status": 3, "notebooks": [
        "x", {"name": 5, "steps": [None, {"kind": "student", "outputs": "nope"},
                                   {"kind": "test", "test": None}, {"kind": "markdown"}],
              "tests": 7, "notes": None}]}
    assert_inert(feedback_html(record))


def test_write_feedback(tmp_path):
    path = tmp_path / "alice" / "02" / "feedback.html"
    write_feedback(hostile_record(), path)
    text = path.read_text(encoding="utf-8")
    assert text == feedback_html(hostile_record())
    assert "😀" in text and "\ufffd" in text  # the lone surrogate was replaced


def test_autograded_notebook_is_valid():
    record = hostile_record()
    steps = record["notebooks"][0]["steps"]
    steps[3]["outputs"].append({"output_type": "bogus", "x": 1})
    steps[3]["outputs"].append({"output_type": "display_data", "data": {"a/b": 5}})
    nb = autograded_notebook(record, record["notebooks"][0])
    nbformat.validate(nbformat.from_dict(nb))
    nbformat.writes(nbformat.from_dict(nb))  # no lone surrogates left to break UTF-8
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["grader"]["status"] == "graded"
    assert nb["metadata"]["grader"]["score"] == 2.0
    kinds = [c["cell_type"] for c in nb["cells"]]
    assert kinds == ["markdown", "markdown"] + ["code"] * 7
    report = nb["cells"][4]["outputs"][0]["text"]
    assert report.startswith("[grader] test_visible: failed (0 / 2 points)")
    assert SECRETS[0] in report and "wrong shape" in report  # the instructor sees details
    assert nb["cells"][4]["source"].startswith("assert f(1) == 2")


def test_autograded_notebook_for_an_empty_run():
    record = {"student": "bob", "assignment": "01", "status": "crashed", "detail": "died",
              "score": None, "max_score": 5, "notebooks": [{"name": "01", "steps": []}]}
    nb = autograded_notebook(record, record["notebooks"][0])
    nbformat.validate(nbformat.from_dict(nb))
    assert nb["metadata"]["grader"]["score"] is None


def test_autograded_notebook_keeps_only_text_and_real_images():
    """A forged reply may carry HTML, JavaScript or SVG that the instructor's notebook viewer
    would run or render: only text/plain and PNG/JPEG with their signatures are kept."""
    record = hostile_record()
    step = next(s for s in record["notebooks"][0]["steps"] if s["kind"] == "student")
    step["outputs"] = [
        display({"text/html": SCRIPT, "application/javascript": "alert(1)",
                 "text/plain": "PLAIN-2"}),
        display({"image/svg+xml": "<svg onload=alert(1)></svg>", "image/png": png_b64()}),
        display({"image/png": base64.b64encode(b"<html>not a png</html>").decode(),
                 "image/jpeg": JPEG}),
        display({"text/markdown": "[x](javascript:alert(1))"}),
        {"output_type": "execute_result", "data": {"text/html": SCRIPT},
         "metadata": {"isolated": True}, "execution_count": 3},
    ]
    nb = autograded_notebook(record, record["notebooks"][0])
    nbformat.validate(nbformat.from_dict(nb))
    cell = next(c for c in nb["cells"] if c["source"] == step["code"])
    kept = [sorted(o["data"]) for o in cell["outputs"]]
    assert kept == [["text/plain"], ["image/png"], ["image/jpeg"], ["text/plain"],
                    ["text/plain"]], kept
    assert cell["outputs"][0]["data"]["text/plain"] == "PLAIN-2"
    assert cell["outputs"][3]["data"]["text/plain"] == "[output not kept]"
    assert all(o["metadata"] == {} for o in cell["outputs"])


def test_a_notebooks_outputs_share_one_budget():
    """Per notebook, not per cell: ten cells of large images cannot fill the results, the
    feedback page or the instructor's notebook; what is dropped is said, once per cell."""
    from grader.grade import OutputBudget

    budget = OutputBudget(max_bytes=10_000, max_images=3)
    image = display({"image/png": "A" * 3000, "text/plain": "<Figure>"})
    text = {"output_type": "stream", "name": "stdout", "text": "x" * 100}
    cells = [budget.keep([image, text, image]) for _ in range(3)]
    assert [len(c) for c in cells] == [3, 3, 2]  # text still fits once images do not
    assert cells[1][:2] == [image, text] and cells[1][2]["text"].startswith("[outputs not kept")
    assert cells[2][0] == text and "used up" in cells[2][1]["text"] and budget.images == 3
    assert budget.bytes <= 10_000 and budget.dropped == 3
    assert budget.keep("not a list") == [] and OutputBudget().note() is None
    assert budget.note().startswith("3 outputs not kept")


def test_outputs_after_a_hidden_test_are_not_shown():
    """A right answer that records its arguments and prints them in a later cell would show the
    hidden test cases; the feedback withholds every output after the first hidden test."""
    record = hostile_record()
    steps = record["notebooks"][0]["steps"]
    leak = {"output_type": "stream", "name": "stdout", "text": "HIDDEN-ARGS (5, 5, 2, dilation=4)"}
    steps.append({"kind": "student", "label": "last", "code": "print(calls)",
                  "outputs": [leak]})
    steps.insert(0, {"kind": "student", "label": "first", "code": "print('before')",
                     "outputs": [{"output_type": "stream", "name": "stdout",
                                  "text": "BEFORE-ANY-TEST"}]})
    page = feedback_html(record)
    assert "BEFORE-ANY-TEST" in page and "HIDDEN-ARGS" not in page
    assert "ran after tests with hidden inputs" in page
    nb = autograded_notebook(record, record["notebooks"][0])
    assert any("HIDDEN-ARGS" in json.dumps(c) for c in nb["cells"])  # the instructor sees it
