"""Render a plan document as Markdown (the default), standalone HTML (every text escaped) or JSON.

The layout follows the OSF Preregistration template; a closing table maps every item to its source in the
session, the OSF question and AsPredicted's question. The output depends only on the document, so it is
byte-for-byte reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import Literal

from assistant.prereg.mapping import ASPREDICTED, ASPREDICTED_SHORT, SECTION_TITLES, spec
from assistant.prereg.models import Item, PlanDocument, Section

__all__ = ["FORMATS", "Format", "render", "render_html", "render_json", "render_markdown"]

Format = Literal["md", "html", "json"]
FORMATS: tuple[Format, ...] = ("md", "html", "json")
SECTIONS: tuple[Section, ...] = tuple(SECTION_TITLES)
DEVIATIONS_NOTE = (
    "None at freezing. When the analysis runs against this plan, whyscope compares the executed request with it "
    "field by field (metric, test, covariates, alpha, correction, population filter, sample size reached) and "
    "labels each analysis confirmatory or exploratory; those deviations are reported with the results."
)
STATUS_WORDS = {"complete": "complete", "unconfirmed": "unconfirmed", "missing": "missing", "not_applicable": "n/a"}


def render(document: PlanDocument, fmt: Format = "md") -> str:
    return {"md": render_markdown, "html": render_html, "json": render_json}[fmt](document)


def render_json(document: PlanDocument) -> str:
    return document.model_dump_json(indent=2) + "\n"


def _status_lines(document: PlanDocument) -> list[str]:
    prereg = document.prereg
    if document.freeze is not None:
        stamp = document.freeze
        state = f"Frozen {stamp.frozen_at} (UTC). Content hash: {stamp.content_hash}."
    else:
        state = "Draft: not frozen; no content hash yet."
    lines = [state, f"Completeness: {prereg.completeness.sentence()}."]
    if prereg.completeness.missing or prereg.completeness.unconfirmed:
        lines.append("Not ready to register: answer the questions under 'Still to answer' first.")
    if document.freeze is not None and (document.freeze.missing_items or document.freeze.unconfirmed_items):
        lines.append(_frozen_open(document))
    if prereg.method:
        lines.append(f"Planned analysis: {prereg.method}.")
    if prereg.plan.secondary_analyses:
        names = ", ".join(a.method for a in prereg.plan.secondary_analyses)
        lines.append(f"Secondary analyses (beside the primary one, not in its place): {names}.")
    if document.freeze is not None and document.freeze.software:
        lines.append("Software: " + ", ".join(f"{k} {v}" for k, v in document.freeze.software.items()) + ".")
    return lines


def _frozen_open(document: PlanDocument) -> str:
    """The sentence of a plan frozen incomplete: which items were open at that moment (from its stamp)."""
    stamp = document.freeze
    assert stamp is not None
    labels = {i.key: i.label for i in document.prereg.items}
    parts = [
        f"{word}: {', '.join(labels.get(k, k) for k in keys)}"
        for keys, word in ((stamp.missing_items, "missing"), (stamp.unconfirmed_items, "unconfirmed"))
        if keys
    ]
    return "Frozen incomplete, with these items open at freezing — " + "; ".join(parts) + "."


def _by_section(document: PlanDocument) -> Iterator[tuple[int, Section, list[Item]]]:
    for number, section in enumerate(SECTIONS, start=1):
        yield number, section, [i for i in document.prereg.items if i.section == section]


def _aspredicted(key: str) -> str:
    return "; ".join(ASPREDICTED_SHORT[n] for n in spec(key).aspredicted)


# -- Markdown ------------------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """User text made inert in Markdown: a backslash before '<' so no renderer reads it as raw HTML."""
    return text.replace("<", "\\<")


def _md_cell(text: str) -> str:
    return _md(text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " "))


def render_markdown(document: PlanDocument) -> str:
    prereg = document.prereg
    out = [f"# {_md(prereg.title)}", ""]
    out += [f"> {line}" if i == 0 else f">\n> {line}" for i, line in enumerate(_status_lines(document))]
    out.append("")
    for number, section, items in _by_section(document):
        out += [f"## {number}. {SECTION_TITLES[section]}", ""]
        for item in items:
            out += [f"### {item.label}", ""]
            if item.status == "missing":
                out += [f"**Missing.** {item.question}", ""]
                if item.value:
                    out += [f"So far: {_md(line)}" for line in item.value.splitlines()] + [""]
            else:
                out += [line for value_line in (item.value or "").splitlines() for line in (_md(value_line), "")]
                if item.status == "unconfirmed":
                    out += [f"*Proposed, not yet confirmed by the user.* {item.question}", ""]
            out += [f"*Source: {item.source}.*", ""]
        if section == "other":
            out += _md_other(document)
    return "\n".join(out).rstrip() + "\n"


def _md_other(document: PlanDocument) -> list[str]:
    prereg = document.prereg
    out = ["### Assumptions made during scoping", ""]
    out += [f"- {_md(a)}" for a in prereg.brief.assumptions] or ["None recorded."]
    out += ["", "### Deviations from this plan", "", DEVIATIONS_NOTE, ""]
    open_items = [i for i in prereg.items if i.status in ("missing", "unconfirmed")]
    out += ["### Still to answer", ""]
    out += [f"- **{i.label}** ({i.status}): {i.question}" for i in open_items] or ["Nothing: every item is answered."]
    out += ["", "### Where each answer comes from", ""]
    out += ["| Item | Status | Source in the session | OSF Preregistration | AsPredicted |", "|---|---|---|---|---|"]
    for item in prereg.items:
        cells = [item.label, STATUS_WORDS[item.status], item.source, spec(item.key).osf, _aspredicted(item.key)]
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    out += ["", "AsPredicted's questions: " + " ".join(f"{n}. {q}" for n, q in ASPREDICTED.items()), ""]
    return out


# -- HTML ----------------------------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
.status{border-left:4px solid #888;padding:.5rem 1rem;background:#f6f6f6}
.missing{color:#a40000}.unconfirmed{color:#8a5a00}.source{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.25rem .5rem;vertical-align:top}"""


def render_html(document: PlanDocument) -> str:
    prereg = document.prereg
    title = escape(prereg.title)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8" />',
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
        f"<title>{title}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        '<div class="status">',
        *[f"<p>{escape(line)}</p>" for line in _status_lines(document)],
        "</div>",
    ]
    for number, section, items in _by_section(document):
        out.append(f'<section id="{section}">')
        out.append(f"<h2>{number}. {escape(SECTION_TITLES[section])}</h2>")
        for item in items:
            out.append(f'<div class="item {item.status}" id="item-{item.key}">')
            out.append(f"<h3>{escape(item.label)}</h3>")
            if item.status == "missing":
                out.append(f'<p class="missing"><strong>Missing.</strong> {escape(item.question or "")}</p>')
                out += [f"<p>So far: {escape(line)}</p>" for line in (item.value or "").splitlines()]
            else:
                out += [f"<p>{escape(line)}</p>" for line in (item.value or "").splitlines()]
                if item.status == "unconfirmed":
                    out.append(
                        f'<p class="unconfirmed"><em>Proposed, not yet confirmed by the user.</em> '
                        f"{escape(item.question or '')}</p>"
                    )
            out.append(f'<p class="source">Source: {escape(item.source)}.</p>')
            out.append("</div>")
        if section == "other":
            out += _html_other(document)
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_other(document: PlanDocument) -> list[str]:
    prereg = document.prereg
    out = ["<h3>Assumptions made during scoping</h3>"]
    assumptions = prereg.brief.assumptions
    out += (
        ["<ul>", *[f"<li>{escape(a)}</li>" for a in assumptions], "</ul>"] if assumptions else ["<p>None recorded.</p>"]
    )
    out += ["<h3>Deviations from this plan</h3>", f"<p>{escape(DEVIATIONS_NOTE)}</p>", "<h3>Still to answer</h3>"]
    open_items = [i for i in prereg.items if i.status in ("missing", "unconfirmed")]
    if open_items:
        out.append("<ul>")
        out += [
            f"<li><strong>{escape(i.label)}</strong> ({i.status}): {escape(i.question or '')}</li>" for i in open_items
        ]
        out.append("</ul>")
    else:
        out.append("<p>Nothing: every item is answered.</p>")
    out += [
        "<h3>Where each answer comes from</h3>",
        "<table>",
        "<thead><tr><th>Item</th><th>Status</th><th>Source in the session</th><th>OSF Preregistration</th>"
        "<th>AsPredicted</th></tr></thead>",
        "<tbody>",
    ]
    for item in prereg.items:
        cells = [item.label, STATUS_WORDS[item.status], item.source, spec(item.key).osf, _aspredicted(item.key)]
        out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    out.append("<p>AsPredicted's questions: " + escape(" ".join(f"{n}. {q}" for n, q in ASPREDICTED.items())) + "</p>")
    return out
