"""Interactive item explorer for JupyterLab (ipywidgets).

Filter scored items by run, stratum, tag, dimension and verdict, and read
each item's query, ideal response and every run's output side by side with
its scores. It reads the same tables as the reports
(:func:`evaltools.report.item_table`, :func:`evaltools.report.filter_items`),
and escapes every text it shows (:mod:`evaltools.report._display`).

Usage in a notebook cell::

    from evaltools import explore
    explore.explore("golden/support", ["runs/prompt-v1", "runs/prompt-v2"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools.errors import ConfigError, missing_dependency
from evaltools.report._data import ReportData, load_report_data, query_text
from evaltools.report._display import PRE_STYLE, esc, format_value
from evaltools.report._tables import VERDICTS, filter_items, item_table

ANY = "(any)"
"""Dropdown value meaning "no filter"."""

# JupyterLab's theme variables (with light-theme fallbacks outside JupyterLab), so the
# explorer reads the same in the light and the dark theme.
VERDICT_COLORS = {
    "pass": "var(--jp-success-color1, #1a7f37)",
    "fail": "var(--jp-error-color1, #cf222e)",
    "unscored": "var(--jp-ui-font-color2, #777777)",
}
_TEXT = "color:var(--jp-content-font-color1, #1f2328)"
_MUTED = "var(--jp-content-font-color2, #57606a)"
_BORDER = "var(--jp-border-color2, #dddddd)"
_PANEL = "var(--jp-layout-color2, #fafafa)"
_HEADING = "var(--jp-brand-color1, #4C72B0)"
_DETAIL = "var(--jp-warn-color1, #7a2a2a)"


class ItemExplorer:
    """Widgets to filter items and read them side by side; display it as a cell's last expression.

    Args:
        data: the loaded report data.
        page_size: items per page (at least 1).

    Raises:
        ConfigError: ``page_size`` is not a positive integer.
        MissingDependencyError: ipywidgets is not installed.
    """

    def __init__(self, data: ReportData, *, page_size: int = 10) -> None:
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise ConfigError(f"The 'page_size' parameter of ItemExplorer must be an int >= 1. Got {page_size!r}.")
        try:
            import ipywidgets as w
        except ImportError:  # pragma: no cover - ipywidgets is a core dependency
            raise missing_dependency("ipywidgets") from None
        self.data = data
        self.page_size = page_size
        self.table = item_table(data)
        self._order = {item_id: i for i, item_id in enumerate(data.golden.ids)}
        tags = sorted({t for tags in data.golden.frame["tags"] for t in tags})
        options = {
            "run": data.run_ids,
            "stratum": list(dict.fromkeys(data.golden.frame["stratum"])),
            "tag": tags,
            "dimension": list(dict.fromkeys(data.scores["dimension"])),
            "verdict": list(VERDICTS),
        }
        # Wide enough for the longest option (run ids run long): a dropdown never cuts its value off.
        self.controls: dict[str, Any] = {
            name: w.Dropdown(
                options=[ANY, *values],
                value=ANY,
                description=name,
                style={"description_width": "initial"},
                layout=w.Layout(
                    width=f"{max(14, *(len(str(v)) + 6 for v in [ANY, *values])) + len(name)}ch",
                    margin="2px 12px 2px 0",
                ),
            )
            for name, values in options.items()
        }
        self.page = w.BoundedIntText(value=1, min=1, max=1, description="page", layout=w.Layout(width="140px"))
        self.status = w.HTML()
        self.view = w.HTML()
        for control in self.controls.values():
            control.observe(self._on_filter, names="value")
        self.page.observe(lambda _change: self.refresh(), names="value")
        bar = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
        self.widget = w.VBox([bar, w.HBox([self.page, self.status]), self.view])
        self.refresh()

    def filters(self) -> dict[str, str | None]:
        """The current filters (None where the dropdown says "(any)")."""
        return {name: (None if c.value == ANY else str(c.value)) for name, c in self.controls.items()}

    def matches(self) -> pd.DataFrame:
        """Score rows matching the filters (:func:`evaltools.report.filter_items`)."""
        return filter_items(self.table, **self.filters())

    def item_ids(self) -> list[str]:
        """Ids of the matching items, in golden-set order."""
        ids = set(self.matches()["item_id"].astype(str))
        return sorted(ids, key=lambda i: self._order.get(i, len(self._order)))

    def _on_filter(self, _change: Any) -> None:
        if self.page.value != 1:
            self.page.value = 1  # triggers refresh
        else:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the matching items and redraw the current page."""
        ids = self.item_ids()
        pages = max(1, -(-len(ids) // self.page_size))
        self.page.max = pages
        page = min(self.page.value, pages)
        shown = ids[(page - 1) * self.page_size : page * self.page_size]
        self.status.value = f"&nbsp;{len(ids)} matching item(s), page {page} of {pages}"
        self.view.value = self.render(shown)

    def render(self, item_ids: Sequence[str]) -> str:
        """HTML of the given items: query and ideal, then each run's output with its scores.

        Args:
            item_ids: the items to show.

        Returns:
            Escaped HTML.
        """
        if not item_ids:
            return f'<p class="et-empty" style="{_TEXT}">No item matches these filters.</p>'
        filters = self.filters()
        runs = [filters["run"]] if filters["run"] else self.data.run_ids
        rows = self.table[self.table["item_id"].isin(item_ids)]
        if filters["dimension"]:
            rows = rows[rows["dimension"] == filters["dimension"]]
        items = self.data.golden.by_id
        outputs = self.data.outputs.set_index(["run_id", "item_id"])
        cards = []
        for item_id in item_ids:
            item = items[item_id]
            blocks = [("Query", query_text(item["query"]), ""), ("Ideal", str(item["ideal"]), "")]
            for run in runs:
                key = (run, item_id)
                out = outputs["output"].get(key) if key in outputs.index else None
                err = outputs["error"].get(key) if key in outputs.index else None
                scores = rows[(rows["run_id"] == run) & (rows["item_id"] == item_id)]
                badges = "".join(
                    f'<div style="font-size:0.85em"><b style="color:{VERDICT_COLORS.get(r.verdict, _MUTED)}">'
                    f"{esc(r.verdict)}</b> {esc(r.dimension)} = {format_value(r.value)}"
                    + (f" &middot; {esc(r.failure)}" if isinstance(r.failure, str) else "")
                    + (f' <span style="{PRE_STYLE};color:{_DETAIL}">{format_value(r.detail, max_chars=300)}</span>'
                       if isinstance(r.detail, str) else "")
                    + "</div>"
                    for r in scores.itertuples()
                )  # fmt: skip
                text = out if isinstance(out, str) else f"(no output{': ' + str(err) if isinstance(err, str) else ''})"
                blocks.append((f"Output: {run}", text, badges))
            cols = "".join(
                f'<div><div style="font-weight:600;color:{_HEADING}">{esc(label)}</div>'
                f'<pre style="{PRE_STYLE};{_TEXT};background:{_PANEL};border:1px solid {_BORDER};padding:6px;'
                f'max-height:300px;overflow:auto">{esc(text)}</pre>{extra}</div>'
                for label, text, extra in blocks
            )
            tags = ", ".join(item.get("tags") or [])
            cards.append(
                f'<div class="et-item" style="{_TEXT};border:1px solid {_BORDER};border-radius:6px;padding:8px;'
                'margin:8px 0">'
                f"<div><b>{esc(item_id)}</b> &middot; {esc(item['stratum'])} &middot; {esc(tags)}</div>"
                f'<div style="display:grid;grid-template-columns:repeat({len(blocks)},minmax(0,1fr));gap:8px;'
                f'margin-top:6px">{cols}</div></div>'
            )
        return "".join(cards)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return self.widget._repr_mimebundle_(include=include, exclude=exclude)

    def __repr__(self) -> str:
        return f"ItemExplorer({len(self.item_ids())} matching items, filters={self.filters()})"


def explore(
    golden: str | Path | ReportData,
    runs: str | Path | Sequence[str | Path] | None = None,
    *,
    page_size: int = 10,
    progress: bool = True,
) -> ItemExplorer:
    """Open the item explorer on a golden set and its scored runs.

    Args:
        golden: the golden set folder, or loaded :class:`ReportData`
            (then ``runs`` is ignored).
        runs: run folders scored against the golden set.
        page_size: items per page.
        progress: show a progress bar while loading.

    Returns:
        An :class:`ItemExplorer`; display it (last expression of a cell).

    Raises:
        ConfigError: no golden set or run given.
        RunError: a run folder is missing or unscored.
        VersionMismatchError: a run was made against another version of the set.
    """
    from tqdm.auto import tqdm

    steps = 1 if isinstance(golden, ReportData) else 2
    with tqdm(total=steps, desc="opening the explorer", unit="step", leave=False, disable=not progress) as bar:
        if isinstance(golden, ReportData):
            data = golden
        else:
            bar.set_postfix_str("reading the golden set, outputs and scores")
            data = load_report_data(golden, runs)
            bar.update()
        bar.set_postfix_str(f"tabulating {len(data.scores)} scores")
        explorer = ItemExplorer(data, page_size=page_size)
        bar.update()
    return explorer
