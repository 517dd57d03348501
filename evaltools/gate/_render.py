"""Renderings of a gate result: Markdown (PR comment), JUnit XML, HTML."""

from __future__ import annotations

import html
import math
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import quote

from evaltools.gate._outcome import Verdict, pct

if TYPE_CHECKING:
    from evaltools.gate._verdict import GateResult
    from evaltools.stats import PairedResult

ICON = {Verdict.PASS: "✅", Verdict.NEEDS_REVIEW: "⚠️", Verdict.BLOCK: "❌"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: object) -> str:
    """Escape text for a Markdown table cell (pipes, emphasis, links, HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _scale(r: PairedResult) -> str:
    if r.kind == "binary":
        return "pass/fail"
    return f"{r.kind} {r.scale_min:g}-{r.scale_max:g}"


def _units(r: PairedResult, value: float) -> str:
    if not math.isfinite(value):
        return ""
    unit = "pts" if r.kind != "binary" else "pp"
    shown = value if r.kind != "binary" else 100 * value
    return f" ({shown:+.2f} {unit})" if r.kind != "binary" else ""


def _ci(r: PairedResult) -> str:
    if not math.isfinite(r.ci_low):
        return "n/a"
    return f"{pct(r.scaled(r.ci_low))} to {pct(r.scaled(r.ci_high))}"


def _n(r: PairedResult) -> str:
    return f"{r.n}" + (f" ({r.n_unscored} unscored)" if r.n_unscored else "")


def gate_markdown(result: GateResult, *, report_url: str | None, max_items: int) -> str:
    """Build the Markdown summary (see :meth:`GateResult.to_markdown`)."""
    cmp = result.comparison
    level = round(100 * (1 - cmp.alpha))
    n_items = max((r.n + r.n_unscored for r in cmp.overall), default=0)
    lines = [
        f"## evaltools gate: {ICON[result.verdict]} {result.verdict.value}",
        "",
        f"> {md(result.summary)}",
        "",
        f"Candidate `{md(cmp.candidate_run)}` vs baseline `{md(cmp.baseline_run)}`: {n_items} paired items, "
        f"{len(cmp.overall)} dimensions. Effects are candidate minus baseline as a share of each dimension's "
        f"scale; {level}% intervals; tolerance {100 * cmp.tolerance:g}%, non-inferiority margin "
        f"{100 * cmp.margin:g}%; seed {cmp.seed}.",
        "",
        "| dimension | verdict | gating | scale | n | effect | " + f"{level}% CI | p (adjusted) | MDE |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in result.checks:
        r = d.result
        gating = ("yes" if d.gating else "no") + ("" if d.trusted else " (untrusted)")
        if d is result.coverage:
            gating = "yes (check)"
        adj = f"{_p(r.pvalue_adjusted)} ({'Holm' if r.family == 'holm' else 'BH'})" if r.family != "none" else "n/a"
        mde = f"{100 * r.scaled(r.mde):.1f}%" if math.isfinite(r.mde) else "n/a"
        lines.append(
            f"| {md(d.dimension)} | {ICON[d.verdict]} {d.verdict.value} | {gating} | "
            f"{'items scored' if d is result.coverage else _scale(r)} | {_n(r)} | "
            f"{pct(r.scaled(r.effect))}{_units(r, r.effect)} | {_ci(r)} | {adj} | {mde} |"
        )
    lines += ["", "### Why", ""]
    for d in result.checks:
        lines.append(f"- **{md(d.dimension)}**: {md(d.message)}")
    worst = cmp.worst_items(max_items)
    lines += ["", "### Worst regressed items", ""]
    if worst.empty:
        lines.append("No item scored lower under the candidate.")
    else:
        lines += ["| item | dimension | stratum | baseline | candidate | change |", "|---|---|---|---|---|---|"]
        for row in worst.itertuples(index=False):
            item = md(row.item_id)
            if report_url:
                item = f"[{item}]({report_url}#item-{quote(str(row.item_id), safe='')})"
            stratum = md(row.stratum) if row.stratum is not None else ""
            lines.append(
                f"| {item} | {md(row.dimension)} | {stratum} | {row.baseline:g} | {row.candidate:g} | "
                f"{pct(row.diff_scaled, 0)} |"
            )
    strata_rows = cmp.by_stratum
    if strata_rows:
        lines += [
            "",
            "<details><summary>By stratum (exploratory; Benjamini-Hochberg adjusted)</summary>",
            "",
            f"| dimension | stratum | n | effect | {level}% CI | p (BH) | MDE | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in strata_rows:
            mde = f"{100 * r.scaled(r.mde):.1f}%" if math.isfinite(r.mde) else "n/a"
            lines.append(
                f"| {md(r.dimension)} | {md(r.stratum)} | {_n(r)} | {pct(r.scaled(r.effect))} | {_ci(r)} | "
                f"{_p(r.pvalue_adjusted)} | {mde} | {md(r.note)} |"
            )
        lines += ["", "</details>"]
    if result.production is not None and result.production_shares is not None:
        shares = ", ".join(f"{md(k)} {100 * v:g}%" for k, v in result.production_shares)
        lines += [
            "",
            f"<details><summary>Production-weighted (post-stratified to {shares})</summary>",
            "",
            "| dimension | baseline: golden / production | candidate: golden / production | "
            f"effect: golden / production ({level}% CI) | note |",
            "|---|---|---|---|---|",
        ]
        for pe in result.production:
            r = cmp.get(pe.dimension)
            e = pe.effect
            lines.append(
                f"| {md(pe.dimension)} | {pe.baseline.raw_mean:.4g} / {pe.baseline.mean:.4g} | "
                f"{pe.candidate.raw_mean:.4g} / {pe.candidate.mean:.4g} | {pct(r.scaled(e.raw_mean))} / "
                f"{pct(r.scaled(e.mean))} ({pct(r.scaled(e.ci_low))} to {pct(r.scaled(e.ci_high))}) | "
                f"{md(e.note)} |"
            )
        lines += ["", "</details>"]
    lines += [
        "",
        "<sub>BLOCK: a regression on a gating dimension, or a loss of coverage (items scored in the baseline "
        "but not in the candidate), is statistically shown (Holm). NEEDS_REVIEW: a drop of the tolerance or "
        "more is observed but not shown, the set is too small to rule out the margin, or the candidate lost "
        "items. PASS: non-inferiority within the margin is certified and no item was lost. "
        "Generated by evaltools.</sub>",
        "",
    ]
    return "\n".join(lines)


def gate_junit(result: GateResult) -> str:
    """Build the JUnit XML document (see :meth:`GateResult.to_junit_xml`)."""
    n = len(result.checks)
    failures = sum(d.verdict is not Verdict.PASS for d in result.checks)
    attrs = {"name": "evaltools.gate", "tests": str(n), "failures": str(failures), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", {**attrs, "time": "0"})
    props = ET.SubElement(suite, "properties")
    cmp = result.comparison
    for name, value in (
        ("verdict", result.verdict.value),
        ("summary", result.summary),
        ("baseline_run", cmp.baseline_run),
        ("candidate_run", cmp.candidate_run),
        ("alpha", f"{cmp.alpha:g}"),
        ("tolerance", f"{cmp.tolerance:g}"),
        ("margin", f"{cmp.margin:g}"),
        ("seed", str(cmp.seed)),
        ("exit_code", str(result.exit_code)),
    ):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for d in result.checks:
        case = ET.SubElement(suite, "testcase", {"classname": "evaltools.gate", "name": d.dimension, "time": "0"})
        r = d.result
        detail = (
            f"{d.message}\n"
            f"effect {pct(r.scaled(r.effect))} of the scale, CI {_ci(r)}, p = {_p(r.pvalue)}, "
            f"adjusted p = {_p(r.pvalue_adjusted)} ({r.family}), n = {r.n}, unscored = {r.n_unscored}, "
            f"method: {r.method}"
        )
        if d.verdict is Verdict.BLOCK:
            kind = "coverage_loss" if d is result.coverage else "regression"
            ET.SubElement(case, "failure", {"type": kind, "message": d.message}).text = detail
        elif d.verdict is Verdict.NEEDS_REVIEW:
            ET.SubElement(case, "failure", {"type": "needs_review", "message": d.message}).text = detail
        else:
            ET.SubElement(case, "system-out").text = detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_COLOUR = {Verdict.PASS: "#1a7f37", Verdict.NEEDS_REVIEW: "#9a6700", Verdict.BLOCK: "#cf222e"}


def _chip(verdict: Verdict) -> str:
    return (f'<span class="et-chip" style="color:#fff;background:{_COLOUR[verdict]};border-radius:3px;padding:0 6px;'
            f'font-weight:600;white-space:nowrap">{html.escape(verdict.value.replace("_", " "))}</span>')  # fmt: skip


def gate_html(result: GateResult, *, calibration_href: str | None = None) -> str:
    """Build the compact HTML view (escaped): a verdict banner, one row per dimension, reasons collapsed.

    The notebook view of a :class:`GateResult` and the gate section of the
    comparison report are this same table: dimension, verdict, gating, n,
    effect and its interval as shares of the scale, adjusted p, MDE, and the
    reasons in a ``<details>`` under each row. Each row has the anchor
    ``gate-<dimension>``.

    Args:
        result: the gate result.
        calibration_href: where an untrusted dimension links to (None: no link).

    Returns:
        HTML text.
    """
    e = html.escape
    cmp = result.comparison
    level = round(100 * (1 - cmp.alpha))
    head = (
        f'<div class="et-gate"><p style="font-size:1.15em"><b>{e(cmp.candidate_run)}</b> vs {e(cmp.baseline_run)}: '
        f"{_chip(result.verdict)} (exit code {int(result.exit_code)})</p><p>{e(result.summary)}</p>"
    )
    rows = []
    for d in result.checks:
        r = d.result
        gating = "yes" if d.gating else "no"
        if d is result.coverage:
            gating = "yes (check)"
        elif not d.trusted:
            link = (f' <a href="{e(calibration_href)}">untrusted judge</a>' if calibration_href else
                    " (untrusted judge)")  # fmt: skip
            gating += link
        adj = f"{_p(r.pvalue_adjusted)} ({'Holm' if r.family == 'holm' else 'BH'})" if r.family != "none" else "n/a"
        mde = f"{100 * r.scaled(r.mde):.1f}%" if math.isfinite(r.mde) else "n/a"
        reasons = "".join(f"<li>{e(x)}</li>" for x in d.reasons)
        first = e(d.reasons[0]) if d.reasons else ""
        why = (f'<details><summary>{first}</summary><ul style="margin:2px 0 2px 16px;padding:0">{reasons}</ul>'
               "</details>" if len(d.reasons) > 1 else first)  # fmt: skip
        ci = "n/a" if not math.isfinite(r.ci_low) else f"[{pct(r.scaled(r.ci_low))}, {pct(r.scaled(r.ci_high))}]"
        rows.append(
            f'<tr id="gate-{e(d.dimension)}"><td class="et-txt">{e(d.dimension)}</td>'
            f'<td class="et-txt">{_chip(d.verdict)}</td><td class="et-txt">{gating}</td>'
            f'<td class="et-num">{e(_n(r))}</td><td class="et-num">{e(pct(r.scaled(r.effect)))}</td>'
            f'<td class="et-num">{e(ci)}</td><td class="et-num">{e(adj)}</td><td class="et-num">{e(mde)}</td>'
            f'<td class="et-long" style="min-width:260px">{why}</td></tr>'
        )
    table = (
        '<div class="et-tablewrap" style="overflow-x:auto"><table class="et-table"><thead><tr><th>dimension</th>'
        f"<th>verdict</th><th>gating</th><th>n</th><th>effect</th><th>{level}% CI</th><th>adj. p</th><th>MDE</th>"
        f"<th>why</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    note = (f'<p class="et-more">Effects are candidate minus baseline as a share of each dimension\'s scale; '
            f"tolerance {100 * cmp.tolerance:g}%, margin {100 * cmp.margin:g}%, seed {cmp.seed}.</p>")  # fmt: skip
    return head + table + note + "</div>"


def gate_text(result: GateResult, *, width: int = 100) -> str:
    """A plain-text summary for a terminal: verdict, one aligned row per dimension, the reasons.

    No Markdown (no ``|`` tables, no backslash escapes): what ``evaltools gate`` prints.

    Args:
        result: the gate result.
        width: wrap the reasons at this many characters.

    Returns:
        The text, ending with a newline.
    """
    import textwrap

    cmp = result.comparison
    level = round(100 * (1 - cmp.alpha))
    n_items = max((r.n + r.n_unscored for r in cmp.overall), default=0)
    head = [
        f"evaltools gate: {result.verdict.value}",
        textwrap.fill(result.summary, width),
        "",
        textwrap.fill(
            f"candidate {cmp.candidate_run} vs baseline {cmp.baseline_run}: {n_items} paired items; effects are "
            f"candidate minus baseline as a share of each dimension's scale, {level}% intervals, tolerance "
            f"{100 * cmp.tolerance:g}%, margin {100 * cmp.margin:g}%.",
            width,
        ),
        "",
    ]
    header = ("dimension", "verdict", "gating", "n", "effect", f"{level}% CI", "adj. p", "MDE")
    rows = []
    for d in result.checks:
        r = d.result
        gating = ("yes" if d.gating else "no") + ("" if d.trusted else ", untrusted")
        if d is result.coverage:
            gating = "yes (check)"
        mde = f"{100 * r.scaled(r.mde):.1f}%" if math.isfinite(r.mde) else "n/a"
        adj = _p(r.pvalue_adjusted) if r.family != "none" else "n/a"
        rows.append((d.dimension, d.verdict.value, gating, _n(r), pct(r.scaled(r.effect)), _ci(r), adj, mde))
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    right = {3, 4, 6, 7}

    def line(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in pairs).rstrip()

    table = [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in rows)]
    why = ["", "why:"]
    for d in result.checks:
        why.append(textwrap.fill(d.message, width, initial_indent=f"  {d.dimension}: ", subsequent_indent="    "))
    return "\n".join(head + table + why) + "\n"
