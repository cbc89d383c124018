"""The grading worker's IPython shell: it runs a student's cells and keeps what they print and
display as nbformat outputs, capped in size (``grader.kernel`` uses it; nothing here talks to the
grader).

Only plain text and PNG/JPEG images are kept of rich outputs (``_keep_data``); each stream keeps
its first ``MAX_STREAM`` bytes (``CappedStream``) and says how much it dropped; a cell keeps at
most ``MAX_OUTPUTS`` outputs. Tracebacks lose their ANSI colours.
"""

from __future__ import annotations

import io
import re

MAX_STREAM = 64 * 1024  # bytes kept of each of stdout and stderr per cell
MAX_TEXT = 16 * 1024  # bytes kept of one text/plain result
MAX_IMAGE = 1024 * 1024  # bytes kept of one base64 image
MAX_OUTPUTS = 50  # outputs kept per cell
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

class CappedStream(io.TextIOBase):
    """A text stream that keeps the first ``limit`` bytes and counts the rest."""

    def __init__(self, name: str, sink: list, limit: int = MAX_STREAM) -> None:
        self.name, self.sink, self.limit, self.kept, self.dropped = name, sink, limit, 0, 0

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        size = len(text.encode("utf-8", "replace"))
        if self.kept + size <= self.limit:
            self.sink.append(("stream", self.name, text))
            self.kept += size
        else:
            self.dropped += size
        return len(text)


def _keep_data(data: dict) -> dict:
    """The parts of a rich output the grader keeps: plain text and PNG/JPEG images, capped."""
    kept = {}
    text = data.get("text/plain")
    if isinstance(text, str):
        kept["text/plain"] = text[:MAX_TEXT]
    for mime in ("image/png", "image/jpeg"):
        image = data.get(mime)
        if isinstance(image, str) and len(image) <= MAX_IMAGE:
            kept[mime] = image
    return kept


def make_shell():
    """An IPython shell whose outputs land in ``shell.captured`` instead of a terminal."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    class Publisher(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            self.shell.captured.append(("display_data", _keep_data(dict(data or {}))))

        def clear_output(self, wait=False):
            pass

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.shell.captured.append(("execute_result", _keep_data(dict(format_dict or {}))))

        def finish_displayhook(self):
            pass

    class Shell(InteractiveShell):
        captured: list = []

        def enable_gui(self, gui=None):  # %matplotlib inline needs no event loop
            pass

        def _showtraceback(self, etype, evalue, stb):
            lines = [ANSI.sub("", line) for line in (stb if isinstance(stb, list) else [stb])]
            self.captured.append(("error", getattr(etype, "__name__", str(etype)),
                                  str(evalue)[:MAX_TEXT], "\n".join(lines)[-MAX_TEXT:]))

    shell = Shell.instance(display_pub_class=Publisher, displayhook_class=Hook, colors="nocolor")
    shell.captured = []
    return shell


def outputs_of(captured: list) -> list[dict]:
    """nbformat outputs from what a cell printed and displayed, consecutive stream text merged."""
    outputs: list[dict] = []
    for item in captured:
        if item[0] == "stream":
            _, name, text = item
            if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == name:
                outputs[-1]["text"] += text
            else:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        elif item[0] in ("display_data", "execute_result"):
            if item[1]:
                outputs.append({"output_type": item[0], "data": item[1], "metadata": {}})
        else:
            _, ename, evalue, text = item
            outputs.append({"output_type": "error", "ename": ename, "evalue": evalue,
                            "traceback": text.splitlines()[-60:]})
    return outputs[:MAX_OUTPUTS]
