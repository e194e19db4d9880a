"""Writes a benchmark's Markdown into docs/PERFORMANCE.md between its markers, so the figures in the
doc are always a script's latest output, never typed by hand:

    <!-- scripts/NAME output -->
    ...replaced...
    <!-- end -->

    from perfdoc import write_section; write_section("bench-peers", markdown)
A section whose markers are missing is appended at the end under them (move it where it belongs).
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "PERFORMANCE.md")


def write_section(name, markdown, doc=DOC):
    begin, end = f"<!-- scripts/{name} output -->", "<!-- end -->"
    with open(doc) as f:
        text = f.read()
    body = f"{begin}\n{markdown.strip()}\n{end}"
    at = text.find(begin)
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    else:
        stop = text.find(end, at)
        if stop < 0:
            raise SystemExit(f"{doc}: {begin} has no {end}")
        text = text[:at] + body + text[stop + len(end):]
    tmp = doc + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, doc)
