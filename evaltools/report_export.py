"""Export an executed report notebook to one self-contained, offline HTML file.

What the export guarantees (tests/test_report_browser.py checks each in
headless Chromium with networking off):

* **Inputs hidden**: code cells and prompts are left out; only outputs and
  Markdown show.
* **Offline**: nothing is fetched. The nbconvert ``lab`` template is used
  with its CDN scripts removed (require.js, MathJax, Mermaid, the widget
  manager); plotly.js is inlined *once* in the page head, and only when the
  report has a figure; every figure is rendered from its plotly JSON with
  ``include_plotlyjs=False``. A Content-Security-Policy with
  ``default-src 'none'`` forbids any network request the page might attempt.
* **No foreign script runs**: the CSP allows only the scripts the exporter
  wrote itself (plotly.js and each figure's ``Plotly.newPlot`` call), by
  their SHA-256 hashes, so even text that escaped escaping could not run an
  inline ``<script>``, an ``onerror=`` handler or a ``javascript:`` link.
  Escaping (:mod:`evaltools.report_display`) is the first line of defence;
  the CSP is the second.
* **Header**: report title, golden set name and version, run ids, evaltools
  version and the render date, from the metadata a
  :class:`~evaltools.report_data.ReportData` display publishes (or from the
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
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._io import atomic_write_text
from .report_data import HEADER_KEY

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
META_NAME = "evaltools-report"
"""``<meta name=...>`` holding the report's JSON description (read back by the index page)."""

_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)

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
{%- if resources.evaltools.plotly_js -%}
<script type="text/javascript">{{ resources.evaltools.plotly_js }}</script>
{%- endif -%}
{%- endblock html_head_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.evaltools.header }}
{%- endblock body_header -%}
"""

CSS = """
body.jp-Notebook { max-width: 1240px; margin: 0 auto; padding: 0 16px 48px; }
.et-header { border-bottom: 2px solid #4C72B0; padding: 14px 0 10px; margin-bottom: 12px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.et-header h1 { font-size: 1.6em; margin: 0 0 6px; }
.et-header dl { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; font-size: 0.9em; color: #444; }
.et-header dt { font-weight: 600; display: inline; } .et-header dd { display: inline; margin: 0 0 0 4px; }
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


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _figure_html(spec: dict[str, Any]) -> str:
    import plotly.io as pio

    spec = dict(spec)
    config = {**(spec.pop("config", None) or {}), "displaylogo": False, "responsive": True}
    return str(pio.to_html(spec, include_plotlyjs=False, full_html=False, config=config, validate=False))


def prepare_notebook(nb: Any) -> tuple[Any, Prepared]:
    """A copy of an executed notebook ready for the HTML exporter.

    Plotly outputs become HTML with a ``Plotly.newPlot`` script (their hashes
    are recorded for the CSP); widget and JavaScript outputs are dropped, as
    are stderr streams (kept in :attr:`Prepared.stderr`); the header metadata
    is collected.

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
                info.header = dict(meta[HEADER_KEY])
            data = out.get("data") or {}
            if WIDGET_MIME in data:
                info.dropped_widgets += 1
                continue
            if PLOTLY_MIME in data:
                fig_html = _figure_html(data[PLOTLY_MIME])
                info.script_hashes.extend(_hash(s) for s in _SCRIPT.findall(fig_html))
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


def header_html(header: dict[str, Any]) -> str:
    """The report header block (escaped).

    Args:
        header: ``title`` plus any of ``golden_name``, ``golden_version``,
            ``run_ids``, ``evaltools_version``, ``rendered_at``, ``parameters``.

    Returns:
        HTML text.

    Examples:
        >>> "&lt;b&gt;" in header_html({"title": "<b>", "run_ids": ["a"]})
        True
    """
    e = html.escape
    fields: list[tuple[str, str]] = []
    if header.get("golden_name"):
        fields.append(("Golden set", f"{header['golden_name']} (version {header.get('golden_version', '?')})"))
    if header.get("run_ids"):
        fields.append(("Runs", ", ".join(str(r) for r in header["run_ids"])))
    if header.get("parameters") and not header.get("golden_name"):
        fields.append(("Parameters", ", ".join(f"{k}={v!r}" for k, v in header["parameters"].items())))
    fields.append(("evaltools", str(header.get("evaltools_version", "?"))))
    fields.append(("Rendered", str(header.get("rendered_at", "?"))))
    items = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in fields)
    return f'<header class="et-header"><h1>{e(str(header.get("title", "Report")))}</h1><dl>{items}</dl></header>'


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
        for key in ("golden_name", "golden_version", "run_ids"):
            if info.header.get(key):
                merged[key] = info.header[key]
    clean.metadata["title"] = str(merged.get("title", "Report"))
    js = plotly_js() if info.n_figures else ""
    hashes = ([_hash(js)] if js else []) + info.script_hashes
    scripts = " ".join(dict.fromkeys(hashes)) or "'none'"
    csp = (
        f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    meta = {k: merged.get(k) for k in ("title", "report", "golden_name", "golden_version", "run_ids",
                                       "evaltools_version", "rendered_at")}  # fmt: skip
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        extra_loaders=[DictLoader({"evaltools_report.html.j2": TEMPLATE})],
        template_file="evaltools_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        theme="light",
    )
    resources = {
        "evaltools": {
            "csp": html.escape(csp, quote=True),
            "meta": html.escape(json.dumps(meta, default=str), quote=True),
            "css": CSS,
            "plotly_js": js,
            "header": header_html(merged),
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


def write_index(directory: str | Path, *, title: str = "evaltools reports") -> Path:
    """Write ``index.html`` linking every report in a folder (newest first).

    Reports are recognised by the description their exporter embeds; other
    HTML files are listed by name only.

    Args:
        directory: the reports folder.
        title: the page title.

    Returns:
        The index path.
    """
    from urllib.parse import quote

    folder = Path(directory)
    rows = []
    for path in sorted(folder.glob("*.html")):
        if path.name == INDEX_FILE:
            continue
        meta = read_report_meta(path) or {}
        rows.append((str(meta.get("rendered_at") or ""), path, meta))
    rows.sort(key=lambda r: (r[0], r[1].name), reverse=True)
    e = html.escape
    body = "".join(
        f'<tr><td><a href="{e(quote(p.name))}">{e(str(m.get("title") or p.stem))}</a></td>'
        f"<td>{e(str(m.get('report') or ''))}</td>"
        f"<td>{e(str(m.get('golden_name') or ''))} <code>{e(str(m.get('golden_version') or ''))}</code></td>"
        f"<td>{e(', '.join(str(r) for r in m.get('run_ids') or []))}</td>"
        f"<td>{e(when)}</td><td>{p.stat().st_size / 1e6:.1f} MB</td></tr>"
        for when, p, m in rows
    )
    page = (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;"
        "padding:0 16px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:6px 8px;"
        "text-align:left;vertical-align:top}th{background:#f5f6f8}</style></head><body>"
        f"<h1>{e(title)}</h1><p>{len(rows)} report(s). Each file is self-contained and opens offline.</p>"
        "<table><thead><tr><th>report</th><th>kind</th><th>golden set</th><th>runs</th><th>rendered</th>"
        f"<th>size</th></tr></thead><tbody>{body}</tbody></table></body></html>\n"
    )
    target = folder / INDEX_FILE
    atomic_write_text(target, page)
    return target
