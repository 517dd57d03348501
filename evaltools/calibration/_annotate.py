"""A keyboard-driven annotation UI for JupyterLab (ipywidgets).

``Annotator(items, labels_dir=..., annotator="ana", dimensions={...})`` shows
one item at a time (query, ideal response, output; all HTML-escaped) with a
row of buttons per dimension. Each label is appended to
``<labels_dir>/<annotator>.jsonl`` and flushed to disk at once (see
:mod:`evaltools.calibration._labels`), so killing the kernel between two labels loses
neither; a new ``Annotator`` resumes at the first item with a missing label.
Each annotator has their own file, so several people can label the same
items, which gives the human-human agreement :func:`evaltools.calibrate`
reports as the ceiling.

**Keyboard.** Type ``1``-``9`` (or ``0``) to label the active dimension,
``p``/``f`` for pass/fail, ``n`` for next item, ``b`` for back. The keys
work with the mouse anywhere over the widget (``ipyevents``), and in the
small text box (every keystroke is read as it is typed and the box
cleared). Inside the widget those keys never reach JupyterLab: its
notebook shortcuts (``b`` inserts a cell, ``d d`` deletes one...) are
suppressed there (``data-lm-suppress-shortcuts`` and the key event's
default action prevented). The active dimension (highlighted) starts at the
first one not yet labelled on the item and moves to the next unlabelled one
after each label; once the item is complete the UI moves to the next item.

**Only what a dimension scores.** ``applies_to`` (dimension -> item ids, as
:func:`scorable_items` reads it from the card) limits each dimension to the
items it scores: a judge dimension that only scores prose answers is never
offered a triage ticket, and an item no dimension scores is not shown.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaltools.calibration._labels import _check_annotator, append_label, load_labels
from evaltools.errors import InputError

__all__ = ["Annotator", "scorable_items"]

_NAV = {"n": "next", "b": "back"}
_PASS_FAIL = {"p": 1.0, "f": 0.0}
_PRE_STYLE = (
    "white-space:pre-wrap;border:1px solid var(--jp-border-color2, #ccc);padding:6px;"
    "color:var(--jp-content-font-color1, inherit);background:var(--jp-layout-color1, transparent)"
)


def scorable_items(golden: Any, dimensions: Collection[str] | None = None) -> dict[str, list[str]]:
    """The items each of a golden set's card dimensions scores (its ``applies_to``).

    Args:
        golden: a :class:`~evaltools.golden.GoldenSet`.
        dimensions: names of card dimensions (default: the judge dimensions,
            the ones human labels calibrate).

    Returns:
        dimension -> item ids, in golden-set order.

    Raises:
        InputError: a name is not a dimension of the card.
    """
    from evaltools.scorers import dimensions_from_card

    if not golden.card.get("dimensions") and dimensions is not None:
        # a card that declares no dimensions yet: every item can be labelled
        return {n: [it["id"] for it in golden.items] for n in dimensions}
    dims = {d.name: d for d in dimensions_from_card(golden)}
    names = list(dimensions) if dimensions is not None else [n for n, d in dims.items() if d.scorer == "judge"]
    unknown = [n for n in names if n not in dims]
    if unknown:
        raise InputError(f"{unknown} are not dimensions of the card of {golden.name!r}; it has {list(dims)}.")
    calib = golden.calibration_ids
    return {n: [it["id"] for it in golden.items if dims[n].applies(it, calibration_ids=calib)] for n in names}



def label_scales(
    golden: Any, dimensions: Collection[str] | Mapping[str, Sequence[int]] | None = None
) -> dict[str, tuple[int, ...]]:
    """The label scale of each dimension to annotate.

    Args:
        golden: a :class:`~evaltools.golden.GoldenSet`.
        dimensions: None (every judge dimension of the card, scales from their
            rubrics), a list of those names, or a mapping name -> scale (labels
            for dimensions the card does not declare yet).

    Returns:
        dimension -> allowed label values.

    Raises:
        InputError: a listed name is not a judge dimension of the card.
    """
    if isinstance(dimensions, Mapping):
        return {str(k): tuple(int(x) for x in v) for k, v in dimensions.items()}
    from evaltools.calibration._scales import judge_scales

    scales, _levels = judge_scales(golden)
    if dimensions is None:
        return scales
    unknown = [n for n in dimensions if n not in scales]
    if unknown:
        raise InputError(f"{unknown} are not judge dimensions of the card of {golden.name!r}; it has {list(scales)}.")
    return {n: scales[n] for n in dimensions}


def _keyzone(body: str) -> str:
    # A focusable block that JupyterLab's shortcut matcher stops at: clicking the
    # item text and pressing 'b' never inserts a cell (lumino checks the attribute).
    return (
        '<div class="et-annotator" tabindex="-1" data-lm-suppress-shortcuts="true" '
        'style="outline:none;color:var(--jp-content-font-color1, inherit)">' + body + "</div>"
    )


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # chat messages
        return "\n".join(f"[{m.get('role', '')}] {m.get('content', '')}" for m in value if isinstance(m, dict))
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


class Annotator:
    """Label items one by one, with autosave and resume.

    Args:
        items: one row per output to label, with ``id`` (or ``item_id``),
            ``query``, and optionally ``ideal``, ``output``, ``stratum``,
            ``run_id``. Shown in this order.
        labels_dir: the labels folder (``golden/<name>/labels``).
        annotator: who is labelling (names the labels file).
        dimensions: dimension -> allowed values, e.g.
            ``{"helpfulness": range(1, 6), "appropriate_refusal": [0, 1]}``.
        outputs: the outputs to label, by item id: a run's ``outputs`` frame
            (``id``, ``output``) or a mapping; replaces an ``output`` column.
        run_id: the run whose outputs are labelled (when ``items`` has no
            ``run_id`` column).
        item_ids: restrict to these items, in this order (e.g. a
            :func:`~evaltools.calibration.calibration_subset`).
        auto_advance: move to the next item once every dimension is labelled.
        applies_to: dimension -> the item ids it scores (:func:`scorable_items`);
            a dimension missing here applies to every item. Items no
            dimension applies to are left out.

    Raises:
        InputError: a required column is missing, dimensions are empty,
            ``item_ids`` names unknown items, or no item is left to label.

    Examples:
        >>> import tempfile
        >>> items = pd.DataFrame({"id": ["q1", "q2"], "query": ["Hi", "Refund?"], "output": ["Hey", "No"]})
        >>> ui = Annotator(
        ...     items, labels_dir=tempfile.mkdtemp(), annotator="ana", dimensions={"tone": range(1, 6)}
        ... )
        >>> ui.press("4"); ui.position, ui.progress
        (1, (1, 2))
    """

    def __init__(
        self,
        items: pd.DataFrame,
        *,
        labels_dir: str | Path,
        annotator: str,
        dimensions: Mapping[str, Sequence[float] | range],
        outputs: pd.DataFrame | Mapping[str, str | None] | None = None,
        run_id: str | None = None,
        item_ids: Sequence[str] | None = None,
        auto_advance: bool = True,
        applies_to: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        id_col = "item_id" if "item_id" in items.columns else "id"
        if outputs is not None:
            if isinstance(outputs, pd.DataFrame):
                out_id = "item_id" if "item_id" in outputs.columns else "id"
                if out_id not in outputs.columns or "output" not in outputs.columns:
                    raise InputError(
                        f"Annotator's outputs need 'id' and 'output' columns (a run's outputs). "
                        f"Got columns {list(outputs.columns)}."
                    )
                mapping = dict(zip(outputs[out_id].astype(str), outputs["output"], strict=True))
            else:
                mapping = {str(k): v for k, v in outputs.items()}
            items = items.assign(output=[mapping.get(str(i)) for i in items[id_col]])
        for col in (id_col, "query"):
            if col not in items.columns:
                raise InputError(f"Annotator needs a '{col}' column in items. Got columns {list(items.columns)}.")
        if not dimensions:
            raise InputError("Annotator needs at least one dimension, e.g. dimensions={'helpfulness': range(1, 6)}.")
        frame = items.assign(_id=items[id_col].astype(str)).set_index("_id", drop=False)
        if item_ids is not None:
            unknown = [i for i in item_ids if str(i) not in frame.index]
            if unknown:
                raise InputError(f"item_ids names items that are not in items: {unknown[:5]}.")
            frame = frame.loc[[str(i) for i in item_ids]]
        self._applies = {d: {str(i) for i in ids} for d, ids in (applies_to or {}).items() if d in dimensions}
        if self._applies:
            keep = [any(d not in self._applies or i in self._applies[d] for d in dimensions) for i in frame.index]
            frame = frame[keep]
            if frame.empty:
                raise InputError(
                    f"None of the items is scored by the dimensions {list(dimensions)} (applies_to); "
                    "nothing to label."
                )
        self.items = frame.reset_index(drop=True)
        self.labels_dir = Path(labels_dir)
        self.annotator = _check_annotator(annotator)
        self.dimensions = {d: tuple(float(v) for v in vals) for d, vals in dimensions.items()}
        self.run_id = run_id
        self.auto_advance = auto_advance
        self.status = ""
        self._labels: dict[tuple[str, str | None, str], float] = {}
        # Other annotators may label other dimensions: read only this annotator's labels on ours.
        every = load_labels(self.labels_dir)
        mine = every[(every["annotator"] == annotator) & every["dimension"].isin(list(self.dimensions))]
        for rec in mine.to_dict("records"):
            run = rec["run_id"] if isinstance(rec["run_id"], str) else None
            self._labels[(rec["item_id"], run, rec["dimension"])] = rec["value"]
        self._cursor = 0
        self._enter(self._first_incomplete())
        self._widget: Any = None
        self._syncing = False

    # ------------------------------------------------------------ state

    def _run_of(self, row: Mapping[str, Any]) -> str | None:
        run = row.get("run_id")
        return run if isinstance(run, str) else self.run_id

    def _key(self, i: int, dimension: str) -> tuple[str, str | None, str]:
        row = self.items.iloc[i]
        return (str(row["_id"]), self._run_of(row), dimension)

    def applies(self, i: int, dimension: str) -> bool:
        """Whether ``dimension`` scores the item at position ``i`` (see ``applies_to``)."""
        return dimension not in self._applies or str(self.items.iloc[i]["_id"]) in self._applies[dimension]

    def _dims(self, i: int) -> list[str]:
        return [d for d in self.dimensions if self.applies(i, d)]

    def _done(self, i: int) -> bool:
        return all(self._key(i, d) in self._labels for d in self._dims(i))

    def _first_incomplete(self) -> int:
        for i in range(len(self.items)):
            if not self._done(i):
                return i
        return len(self.items)

    @property
    def finished(self) -> bool:
        """Whether every item has every dimension labelled."""
        return self._first_incomplete() == len(self.items)

    @property
    def progress(self) -> tuple[int, int]:
        """(items fully labelled, items)."""
        return (sum(self._done(i) for i in range(len(self.items))), len(self.items))

    @property
    def current_item(self) -> dict[str, Any] | None:
        """The item on screen, or None past the last item."""
        if self.position >= len(self.items):
            return None
        return dict(self.items.iloc[self.position])

    @property
    def active_dimension(self) -> str | None:
        """The dimension a digit key labels (None past the last item)."""
        if self.position >= len(self.items):
            return None
        return self._dims(self.position)[self._cursor]

    def _enter(self, position: int) -> None:
        # On arriving at an item the cursor is on its first unlabelled
        # dimension (the first one when all are labelled, to allow fixes).
        self.position = max(0, min(position, len(self.items)))
        self._cursor = 0
        if self.position < len(self.items):
            for i, d in enumerate(self._dims(self.position)):
                if self._key(self.position, d) not in self._labels:
                    self._cursor = i
                    break

    def label_of(self, dimension: str) -> float | None:
        """This annotator's label of ``dimension`` on the current item, if any."""
        if self.position >= len(self.items):
            return None
        return self._labels.get(self._key(self.position, dimension))

    # ------------------------------------------------------------ actions

    def label(self, dimension: str, value: float) -> None:
        """Save a label for the current item (appended and fsynced at once).

        Args:
            dimension: one of the dimensions.
            value: a value on its scale.

        Raises:
            InputError: unknown dimension, value off the scale, or no current item.
        """
        if dimension not in self.dimensions:
            raise InputError(f"Unknown dimension {dimension!r}; dimensions are {list(self.dimensions)}.")
        if float(value) not in self.dimensions[dimension]:
            raise InputError(
                f"Value {value!r} is outside the scale of '{dimension}' {list(self.dimensions[dimension])}."
            )
        if self.position >= len(self.items):
            raise InputError("Every item has been shown; press 'b' to go back to one.")
        if not self.applies(self.position, dimension):
            raise InputError(f"Dimension {dimension!r} does not score item {self.items.iloc[self.position]['_id']!r}.")
        item_id, run_id, _ = self._key(self.position, dimension)
        was_complete = self._done(self.position)
        append_label(
            self.labels_dir,
            item_id=item_id,
            dimension=dimension,
            value=float(value),
            annotator=self.annotator,
            run_id=run_id,
        )
        self._labels[(item_id, run_id, dimension)] = float(value)
        self.status = f"saved {dimension} = {value:g} for {item_id}"
        names = self._dims(self.position)
        index = names.index(dimension)
        # Move on when this label completed the item, or when it fixed the last
        # dimension of an already complete item (so fixes can be typed in order).
        if self.auto_advance and self._done(self.position) and (not was_complete or index == len(names) - 1):
            self._enter(self.position + 1)
        else:
            after = names[index + 1 :] + names[: index + 1]
            todo = [d for d in after if self._key(self.position, d) not in self._labels]
            self._cursor = names.index(todo[0]) if todo else (index + 1) % len(names)
        self._refresh()

    def next(self) -> None:
        """Show the next item (stays past the end to show 'done')."""
        self._enter(self.position + 1)
        self.status = ""
        self._refresh()

    def back(self) -> None:
        """Show the previous item."""
        self._enter(self.position - 1)
        self.status = ""
        self._refresh()

    def press(self, key: str) -> None:
        """Handle one key: a digit labels the active dimension, p/f pass/fail, n next, b back.

        Unknown keys, and digits off the active dimension's scale, only set
        :attr:`status`; nothing is written.

        Args:
            key: one character.
        """
        key = key.lower()
        if key in _NAV:
            self.next() if _NAV[key] == "next" else self.back()
            return
        dim = self.active_dimension
        if dim is None:
            self.status = "all items shown; press b to go back"
            self._refresh()
            return
        if key in _PASS_FAIL and set(self.dimensions[dim]) == {0.0, 1.0}:
            self.label(dim, _PASS_FAIL[key])
        elif key.isdigit() and float(key) in self.dimensions[dim]:
            self.label(dim, float(key))
        else:
            self.status = f"key {key!r} does nothing for '{dim}' (scale {[f'{v:g}' for v in self.dimensions[dim]]})"
            self._refresh()

    # ------------------------------------------------------------ widgets

    def item_html(self) -> str:
        """The current item as escaped HTML (outputs are data, never markup)."""
        item = self.current_item
        done, total = self.progress
        if item is None:
            who = html.escape(self.annotator)
            return _keyzone(f"<p><b>Done:</b> {done} of {total} items fully labelled by {who}.</p>")
        head = (
            f"<p><b>Item {self.position + 1} of {total}</b> &middot; id {html.escape(str(item['_id']))}"
            + (f" &middot; {html.escape(str(item['stratum']))}" if isinstance(item.get("stratum"), str) else "")
            + f" &middot; {done} done</p>"
        )
        blocks = []
        for title, col in (("Query", "query"), ("Ideal response", "ideal"), ("Output", "output")):
            if col in item:
                body = html.escape(_text(item[col]))
                blocks.append(f"<div><b>{title}</b><pre style='{_PRE_STYLE}'>{body}</pre></div>")
        return _keyzone(head + "".join(blocks))

    @property
    def widget(self) -> Any:
        """The ipywidgets box (built on first use)."""
        if self._widget is None:
            self._build()
        return self._widget

    def _build(self) -> None:
        import ipywidgets as w

        self._html = w.HTML()
        self._buttons: dict[str, Any] = {}
        rows = []
        for d, scale in self.dimensions.items():
            options = (
                [("pass" if v == 1 else "fail", v) for v in scale]
                if set(scale) == {0.0, 1.0}
                else [(f"{v:g}", v) for v in scale]
            )
            tb = w.ToggleButtons(options=options, value=None, description=d, style={"description_width": "initial"})
            tb.observe(self._on_button(d), names="value")
            self._buttons[d] = tb
            rows.append(tb)
        self._keys = w.Text(
            value="",
            placeholder="click here, then type: digits label, p/f pass/fail, n next, b back",
            continuous_update=True,
            layout=w.Layout(width="480px"),
        )
        self._keys.observe(self._on_keys, names="value")
        back, nxt = w.Button(description="Back (b)"), w.Button(description="Next (n)")
        back.on_click(lambda _: self.back())
        nxt.on_click(lambda _: self.next())
        self._status = w.Label()
        self._widget = w.VBox([self._html, *rows, w.HBox([back, nxt, self._keys]), self._status])
        if importlib.util.find_spec("ipyevents") is not None:
            from ipyevents import Event

            # Keys over the widget label items; preventing their default action also
            # keeps them from JupyterLab's command-mode shortcuts (lumino skips such events).
            self._events = Event(
                source=self._widget, watched_events=["keydown"], prevent_default_action=True,
                ignore_modifier_key_events=True,
            )  # fmt: skip
            self._events.on_dom_event(self._on_dom_key)
        self._refresh()

    def _on_dom_key(self, event: Mapping[str, Any]) -> None:
        key = str(event.get("key", ""))
        if len(key) == 1 and not (event.get("ctrlKey") or event.get("metaKey") or event.get("altKey")):
            self.press(key)

    def _on_button(self, dimension: str) -> Any:
        def handler(change: Mapping[str, Any]) -> None:
            if self._syncing or change["new"] is None:
                return
            self.label(dimension, change["new"])

        return handler

    def _on_keys(self, change: Mapping[str, Any]) -> None:
        if self._syncing or not change["new"]:
            return
        typed = change["new"]
        self._syncing = True
        self._keys.value = ""
        self._syncing = False
        for ch in typed:
            self.press(ch)

    def _refresh(self) -> None:
        if self._widget is None:
            return
        self._syncing = True
        try:
            self._html.value = self.item_html()
            active = self.active_dimension
            for d, tb in self._buttons.items():
                scored = self.current_item is not None and self.applies(self.position, d)
                tb.value = self.label_of(d) if scored else None
                tb.disabled = not scored
                tb.button_style = "info" if d == active else ""
            self._status.value = self.status
        finally:
            self._syncing = False

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
