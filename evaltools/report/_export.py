"""Export an executed report notebook to one self-contained, offline HTML file.

What the export guarantees (tests/test_report_browser.py checks each in
headless Chromium with networking off):

* **Inputs hidden**: code cells and prompts are left out; only outputs and
  Markdown show.
* **Offline**: nothing is fetched. The nbconvert ``lab`` template is used
  with its CDN scripts removed (require.js, MathJax, Mermaid, the widget
  manager); plotly.js is inlined *once*, and only when the report has a
  figure. A Content-Security-Policy with ``default-src 'none'`` forbids any
  network request the page might attempt.
* **Text first, plots after**: plotly.js (4.8 MB) sits at the *end* of the
  body, after all the text, and each figure is a sized placeholder holding
  its plotly JSON in a ``<script type="application/json">`` block (data, not
  code); one small loader script draws the figures one by one once
  plotly.js has run. The browser paints the headline card and the tables
  before it parses plotly.js.
* **No foreign script runs**: the CSP allows only the three scripts the
  exporter wrote itself (plotly.js, the figure loader and the page script
  that filters the item drilldown and opens a linked item), by their
  SHA-256 hashes, so even text that escaped escaping could not run an
  inline ``<script>``, an ``onerror=`` handler or a ``javascript:`` link.
  Escaping (:mod:`evaltools.report._display`) is the first line of defence;
  the CSP is the second.
* **Headline first**: a :class:`~evaltools.report.Headline` output
  is moved right under the page header, and its verdict and title go into
  the page's description for the index.
* **Print**: a print stylesheet drops the controls, opens collapsed
  sections and keeps cards, tables and figures whole on a page.
* **Header**: report title, golden set name and version, run ids, evaltools
  version and the render date, from the metadata a
  :class:`~evaltools.report.ReportData` display publishes (or from the
  parameters when the notebook publishes none).

Figures reach the exporter as ``application/vnd.plotly.v1+json`` outputs:
:func:`evaltools.report.render_report` starts the kernel with
``PLOTLY_RENDERER=plotly_mimetype``, so the executed notebook stays light and
renders natively when opened in JupyterLab.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from evaltools._util import atomic_write_text
from evaltools.report._data import HEADER_KEY
from evaltools.report._display import HEADLINE_KEY

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
META_NAME = "evaltools-report"
"""``<meta name=...>`` holding the report's JSON description (read back by the index page)."""

TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.evaltools.csp }}">
<meta name="evaltools-report" content="{{ resources.evaltools.meta }}">
{%- endblock extra_css -%}
{%- block html_head_css -%}
<style type="text/css">{{ resources.evaltools.css }}</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.evaltools.header }}
{%- endblock body_header -%}
{%- block body_footer -%}
</main>
{{ resources.evaltools.footer }}
</body>
{%- endblock body_footer -%}
"""

PAGE_JS = """(function () {
  function filter(root) {
    var box = root.querySelector("input[type=search]"), q = box ? box.value.trim().toLowerCase() : "";
    var sels = root.querySelectorAll("select[data-key]"), items = root.querySelectorAll(".et-drill-item"), n = 0;
    items.forEach(function (it) {
      var ok = true;
      sels.forEach(function (s) {
        if (s.value && it.getAttribute("data-" + s.getAttribute("data-key")) !== s.value) ok = false;
      });
      if (ok && q && it.textContent.toLowerCase().indexOf(q) < 0) ok = false;
      it.hidden = !ok; if (ok) n++;
    });
    var c = root.querySelector(".et-drill-count"); if (c) c.textContent = n + " of " + items.length + " shown";
  }
  document.querySelectorAll(".et-drill").forEach(function (root) {
    root.querySelectorAll("input, select").forEach(function (el) {
      el.addEventListener("input", function () { filter(root); });
      el.addEventListener("change", function () { filter(root); });
    });
    filter(root);
  });
  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1)), el = id && document.getElementById(id);
    if (!el) return;
    for (var p = el; p; p = p.parentElement) { if (p.tagName === "DETAILS") p.open = true; }
    el.scrollIntoView();
  }
  window.addEventListener("hashchange", openTarget); openTarget();
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();"""
"""The page script: filters and searches the item drilldown, opens the details a link points into, and
opens every collapsed section before printing."""

PLOT_JS = """(function () {
  var specs = Array.prototype.slice.call(document.querySelectorAll("script.et-plot-spec"));
  function next() {
    var s = specs.shift(); if (!s || !window.Plotly) return;
    var div = document.getElementById(s.getAttribute("data-target")), f = JSON.parse(s.textContent);
    Plotly.newPlot(div, f.data || [], f.layout || {}, f.config || {}).then(function () {
      div.removeAttribute("data-et-pending"); setTimeout(next, 0);
    });
  }
  next();
})();"""
"""The figure loader: draws each figure from its JSON block, one at a time, after plotly.js has run."""

CSS = """
body.jp-Notebook { max-width: 1240px; margin: 0 auto; padding: 0 16px 48px; }
.et-header { border-bottom: 2px solid #4C72B0; padding: 14px 0 10px; margin-bottom: 12px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.et-header h1 { font-size: 1.6em; margin: 0 0 6px; }
.et-header nav { float: right; font-size: 0.9em; }
.et-header dl { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; font-size: 0.9em; color: #444; }
.et-header dt { font-weight: 600; display: inline; } .et-header dd { display: inline; margin: 0 0 0 4px; }
.et-header details { font-size: 0.85em; color: #444; margin-top: 4px; }
.et-headline { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.et-headline li { margin: 2px 0; }
.et-headline a, .et-gate a { color: #0b5cad; text-decoration: underline; }
.jp-RenderedHTMLCommon table.et-table { border-collapse: collapse; font-size: 0.86em; margin: 6px 0 10px;
  table-layout: auto; }
.jp-RenderedHTMLCommon .et-table caption { text-align: left; font-weight: 600; padding: 4px 0; }
.jp-RenderedHTMLCommon .et-table th, .jp-RenderedHTMLCommon .et-table td { border-bottom: 1px solid #e3e3e3;
  padding: 3px 8px; vertical-align: top; }
.jp-RenderedHTMLCommon .et-table th { background: #f5f6f8; text-align: left; white-space: nowrap; }
.jp-RenderedHTMLCommon .et-table td.et-num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.jp-RenderedHTMLCommon .et-table td.et-txt { text-align: left; white-space: nowrap; }
.jp-RenderedHTMLCommon .et-table td.et-long { text-align: left; white-space: pre-wrap; word-break: normal;
  overflow-wrap: break-word;
  min-width: 220px; max-width: 460px; }
.et-card-head { font-size: 0.88em; color: #333; }
.et-key { color: #777; font-size: 0.85em; text-transform: uppercase; letter-spacing: 0.03em; }
.et-label { font-weight: 600; font-size: 0.85em; color: #4C72B0; margin-bottom: 2px; }
.et-block pre { background: #fafafa; border: 1px solid #eee; border-radius: 4px; padding: 6px;
  max-height: 320px; overflow: auto; }
.et-detail { font-size: 0.88em; margin-top: 6px; color: #7a2a2a; }
.et-note { padding: 6px 10px; background: #f2f6fc; border-left: 3px solid #4C72B0; }
.et-note.et-warning { background: #fff8e6; border-left-color: #9a6700; }
.et-more, .et-empty { color: #777; font-size: 0.88em; }
.et-del { background: #ffebe9; color: #82071e; text-decoration: line-through; }
.et-ins { background: #dafbe1; color: #116329; text-decoration: none; }
.et-drill-item > summary { font-size: 0.92em; }
.et-drill-item[hidden] { display: none; }
.et-plot { width: 100%; }
.et-plot[data-et-pending] { background: #fafafa; border: 1px dashed #ddd; }
:target { outline: 3px solid #f2c744; outline-offset: 2px; background: #fff8c5; scroll-margin-top: 40px; }
@media print {
  body.jp-Notebook { max-width: none; padding: 0; font-size: 10pt; }
  .et-header nav, .et-drill-controls, .modebar, .modebar-container { display: none !important; }
  .et-headline, .et-card, .et-drill-item, .et-table tr, .et-plot, .et-gate { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  .et-block pre { max-height: none; overflow: visible; }
  .jp-RenderedHTMLCommon .et-table td.et-long { max-width: none; }
  .et-drill-item[hidden] { display: block; }
  a { color: inherit; }
}
"""


@dataclass
class Prepared:
    """What :func:`prepare_notebook` found while cleaning an executed notebook for export."""

    n_figures: int = 0
    """Plotly figures rendered."""
    script_hashes: list[str] = field(default_factory=list)
    """CSP hashes of the figure scripts written by the exporter."""
    header: dict[str, Any] = field(default_factory=dict)
    """Header metadata published by the notebook (last one wins)."""
    stderr: list[str] = field(default_factory=list)
    """stderr text (warnings) dropped from the HTML."""
    dropped_widgets: int = 0
    """Widget outputs dropped (interactive only; they cannot work in a static file)."""
    headline: list[str] = field(default_factory=list)
    """HTML of the headline cards, moved under the page header."""


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _figure_html(spec: dict[str, Any], index: int) -> str:
    """A sized placeholder and the figure's plotly JSON as inert data (drawn by :data:`PLOT_JS`)."""
    spec = dict(spec)
    config = {**(spec.pop("config", None) or {}), "displaylogo": False, "responsive": True}
    layout = spec.get("layout") or {}
    height = layout.get("height") if isinstance(layout.get("height"), int | float) else 450
    target = f"et-plot-{index}"
    payload = json.dumps({"data": spec.get("data") or [], "layout": layout, "config": config},
                         separators=(",", ":"), allow_nan=False, default=_json_default)  # fmt: skip
    # "</script>" in a label would close the element early; the JSON escape parses back to the same text.
    payload = payload.replace("<", "\\u003c")  # "<" only occurs inside JSON strings, where \\u003c is "<"
    return (
        f'<div id="{target}" class="et-plot plotly-graph-div" data-et-pending="1" style="height:{int(height)}px">'
        f'</div><script type="application/json" class="et-plot-spec" data-target="{target}">{payload}</script>'
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def prepare_notebook(nb: Any) -> tuple[Any, Prepared]:
    """A copy of an executed notebook ready for the HTML exporter.

    Plotly outputs become sized placeholders holding their JSON (drawn by
    :data:`PLOT_JS`); headline cards are taken out (for the top of the
    page); widget and JavaScript outputs are dropped, as are stderr streams
    (kept in :attr:`Prepared.stderr`); the header metadata is collected
    (later outputs add to and override earlier ones).

    Args:
        nb: an executed ``nbformat`` notebook.

    Returns:
        The cleaned copy and what was found.
    """
    nb = copy.deepcopy(nb)
    info = Prepared()
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                if out.get("name") == "stderr":
                    info.stderr.append(str(out.get("text", "")))
                    continue
                kept.append(out)
                continue
            if kind not in ("display_data", "execute_result"):
                kept.append(out)
                continue
            meta = out.get("metadata") or {}
            if HEADER_KEY in meta:
                info.header.update(dict(meta[HEADER_KEY]))
            data = out.get("data") or {}
            if meta.get(HEADLINE_KEY) and "text/html" in data:
                info.headline.append(str(data["text/html"]))
                continue
            if WIDGET_MIME in data:
                info.dropped_widgets += 1
                continue
            if PLOTLY_MIME in data:
                fig_html = _figure_html(data[PLOTLY_MIME], info.n_figures)
                info.n_figures += 1
                out["data"] = {"text/html": fig_html}
                out["metadata"] = {}
                kept.append(out)
                continue
            for mime in ("application/javascript", "text/javascript"):
                data.pop(mime, None)
            if data:
                kept.append(out)
        cell["outputs"] = kept
    return nb, info


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle shipped with the installed plotly package (read once).

    Returns:
        The minified JavaScript source.
    """
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _param_text(value: Any) -> str:
    """A parameter value as short readable text (lists joined, mappings as ``key: value``)."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_param_text(v)}" for k, v in value.items()) or "(none)"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, int | float) for v in value):
            return f"{value[0]:g}-{value[-1]:g}" if len(value) > 2 else ", ".join(f"{v:g}" for v in value)
        return ", ".join(_param_text(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


def header_html(header: dict[str, Any]) -> str:
    """The report header block (escaped), with a link back to the report index.

    Args:
        header: ``title`` plus any of ``golden_name``, ``golden_version``,
            ``run_ids``, ``evaltools_version``, ``rendered_at``, ``parameters``.

    Returns:
        HTML text. Parameters are listed as readable text in a collapsed
        section, never as a Python dict.

    Examples:
        >>> "&lt;b&gt;" in header_html({"title": "<b>", "run_ids": ["a"]})
        True
        >>> text = header_html({"title": "t", "parameters": {"scales": {"helpfulness": [1, 2, 3, 4, 5]}}})
        >>> "helpfulness: 1-5" in text, "{" in text
        (True, False)
    """
    e = html.escape
    fields: list[tuple[str, str]] = []
    if header.get("golden_name"):
        fields.append(("Golden set", f"{header['golden_name']} (version {header.get('golden_version', '?')})"))
    if header.get("run_ids"):
        fields.append(("Runs", ", ".join(str(r) for r in header["run_ids"])))
    if header.get("source"):
        fields.append(("Data", str(header["source"])))
    fields.append(("evaltools", str(header.get("evaltools_version", "?"))))
    fields.append(("Rendered", str(header.get("rendered_at", "?"))))
    items = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in fields)
    params = header.get("parameters") or {}
    extra = ""
    if params:
        rows = "".join(f"<div><dt>{e(str(k))}</dt><dd>{e(_param_text(v))}</dd></div>" for k, v in params.items())
        extra = f"<details><summary>Parameters</summary><dl>{rows}</dl></details>"
    nav = f'<nav><a href="{e(INDEX_FILE)}">&larr; All reports</a></nav>'
    return (f'<header class="et-header">{nav}<h1>{e(str(header.get("title", "Report")))}</h1><dl>{items}</dl>'
            f"{extra}</header>")  # fmt: skip


def export_html(nb: Any, header: dict[str, Any]) -> tuple[str, Prepared]:
    """Export an executed notebook to a self-contained HTML page.

    Args:
        nb: the executed notebook.
        header: what the header shows (see :func:`header_html`); merged over
            the metadata the notebook published.

    Returns:
        The HTML text and what :func:`prepare_notebook` found.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    clean, info = prepare_notebook(nb)
    merged = {**info.header, **{k: v for k, v in header.items() if v is not None}}
    if info.header:  # the notebook knows the golden set and runs better than the parameters
        for key in ("golden_name", "golden_version", "run_ids", "verdict", "tone", "headline", "source"):
            if info.header.get(key):
                merged[key] = info.header[key]
    clean.metadata["title"] = str(merged.get("title", "Report"))
    js = plotly_js() if info.n_figures else ""
    scripts = [PAGE_JS] + ([js, PLOT_JS] if js else [])
    csp = (
        f"default-src 'none'; script-src {' '.join(_hash(x) for x in scripts)}; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; base-uri 'none'; form-action 'none'"
    )
    meta = {k: merged.get(k) for k in ("title", "report", "golden_name", "golden_version", "run_ids",
                                       "evaltools_version", "rendered_at", "verdict", "tone", "headline")}  # fmt: skip
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        extra_loaders=[DictLoader({"evaltools_report.html.j2": TEMPLATE})],
        template_file="evaltools_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        theme="light",
    )
    # Text first: the page script, then plotly.js and the figure loader, all after the last output.
    footer = "".join(f'<script type="text/javascript">{x}</script>' for x in scripts)
    resources = {
        "evaltools": {
            "csp": html.escape(csp, quote=True),
            "meta": html.escape(json.dumps(meta, default=str), quote=True),
            "css": CSS,
            "header": header_html(merged) + "".join(info.headline),
            "footer": footer,
        }
    }
    body, _ = exporter.from_notebook_node(clean, resources=resources)
    return body, info


def read_report_meta(path: str | Path) -> dict[str, Any] | None:
    """The JSON description an exported report carries in its head (None for other HTML files).

    Args:
        path: an HTML file.

    Returns:
        The description, or None.
    """
    from html.parser import HTMLParser

    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.read(64_000)  # the meta tag sits before plotly.js in the head
    found: list[str] = []

    class _Meta(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "meta" and a.get("name") == META_NAME and a.get("content") is not None:
                found.append(str(a["content"]))

    _Meta().feed(head)  # attribute order and quoting vary (nbconvert re-serializes the page)
    if not found:
        return None
    try:
        data = json.loads(found[0])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


INDEX_FILE = "index.html"
"""The index page written in a reports folder."""


_TONE_COLOURS = {"good": "#1a7f37", "warn": "#9a6700", "bad": "#cf222e", "info": "#4C72B0"}


def write_index(directory: str | Path, *, title: str = "evaltools reports") -> Path:
    """Write ``index.html`` linking every report in a folder, each with its verdict and headline.

    Reports are recognised by the description their exporter embeds
    (title, verdict, headline, golden set, runs); other HTML files are
    listed by name only. The gate's ``gate.md`` and ``gate.xml``, when the
    folder has them, are linked above the table. Reports are listed in the
    reading order eval, comparison, calibration, monitoring, then the
    others by name.

    Args:
        directory: the reports folder.
        title: the page title.

    Returns:
        The index path.
    """
    from urllib.parse import quote

    folder = Path(directory)
    order = {name: i for i, name in enumerate(("eval", "comparison", "calibration", "monitoring"))}
    rows = []
    for path in sorted(folder.glob("*.html")):
        if path.name == INDEX_FILE:
            continue
        meta = read_report_meta(path) or {}
        rows.append((order.get(str(meta.get("report") or path.stem), len(order)), path, meta))
    rows.sort(key=lambda r: (r[0], r[1].name))
    e = html.escape

    def verdict(m: dict[str, Any]) -> str:
        if not m.get("verdict"):
            return ""
        colour = _TONE_COLOURS.get(str(m.get("tone")), _TONE_COLOURS["info"])
        return (f'<span class="verdict" style="background:{colour}">'
                f"{e(str(m['verdict']).replace('_', ' '))}</span>")  # fmt: skip

    body = "".join(
        f'<tr><td><a href="{e(quote(p.name))}">{e(str(m.get("title") or p.stem))}</a></td>'
        f"<td>{verdict(m)}</td><td>{e(str(m.get('headline') or ''))}</td>"
        f"<td>{e(str(m.get('golden_name') or ''))} <code>{e(str(m.get('golden_version') or ''))}</code></td>"
        f"<td>{e(', '.join(str(r) for r in m.get('run_ids') or []))}</td>"
        f"<td>{e(str(m.get('rendered_at') or ''))}</td><td>{p.stat().st_size / 1e6:.1f} MB</td></tr>"
        for _, p, m in rows
    )
    gate_links = [f'<a href="{e(n)}">{e(n)}</a>' for n in ("gate.md", "gate.xml") if (folder / n).is_file()]
    gate = (f"<p>Regression gate: {' &middot; '.join(gate_links)} (the pull-request summary and the JUnit "
            "report of the same verdict).</p>" if gate_links else "")  # fmt: skip
    page = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:1200px;margin:24px auto;"
        "padding:0 16px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:6px 8px;"
        "text-align:left;vertical-align:top}th{background:#f5f6f8}.verdict{color:#fff;border-radius:4px;"
        "padding:1px 8px;font-weight:700;white-space:nowrap}</style></head><body>"
        f"<h1>{e(title)}</h1><p>{len(rows)} report(s). Each file is self-contained and opens offline.</p>{gate}"
        "<table><thead><tr><th>report</th><th>verdict</th><th>headline</th><th>golden set</th><th>runs</th>"
        f"<th>rendered</th><th>size</th></tr></thead><tbody>{body}</tbody></table></body></html>\n"
    )
    target = folder / INDEX_FILE
    atomic_write_text(target, page)
    return target
