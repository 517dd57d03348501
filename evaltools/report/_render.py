"""Render report notebooks to shareable HTML: papermill executes, nbconvert exports.

A report is a notebook in ``notebooks/`` with one cell tagged
``parameters``; adding a report is adding a notebook. :func:`render_report`

1. **resolves** the notebook (:func:`resolve_notebook`): a path to an
   ``.ipynb``, else ``<name>.ipynb`` in, in order, the folders listed in the
   ``EVALTOOLS_NOTEBOOKS`` environment variable, the repository's
   ``notebooks/`` folder next to the package (a source checkout or an
   editable install), and the copy packaged as ``evaltools/notebooks/`` (a
   wheel). papermill needs the file on disk, which all three are.
2. **checks the parameters** against ``papermill.inspect_notebook`` and
   raises :class:`ReportParameterError` on a name the ``parameters`` cell
   does not declare, listing the valid ones (papermill itself only warns).
3. **executes** with papermill in a kernel named ``python3`` that always runs
   *this* interpreter (``sys.executable``), whatever kernels are installed,
   so it works in a fresh virtual environment; the kernel gets
   ``PLOTLY_RENDERER=plotly_mimetype`` so figures travel as JSON. A failing
   cell raises :class:`ReportCellError` naming the cell, its first line and
   the error; when the error is one of :mod:`evaltools.errors` (a missing
   run, a version mismatch...) the raised class also subclasses it, so
   ``except VersionMismatchError`` works. The executed notebook is kept next
   to the output (``<out>.ipynb``) for debugging.
4. **exports** one self-contained offline HTML file
   (:mod:`evaltools.report._export`), then rewrites ``index.html`` in the
   output folder, linking every report there.

Relative paths in the parameters are resolved by the kernel against the
current directory (or ``cwd=``), as for any Python code.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import evaltools.errors as _errors
from evaltools._util import atomic_write_text
from evaltools.errors import ConfigError, ReportError, missing_dependency
from evaltools.report._export import INDEX_FILE, write_index

KERNEL_NAME = "python3"
"""The kernel name papermill is given; it always resolves to the current interpreter."""

TITLES: dict[str, str] = {
    "eval": "Evaluation report",
    "comparison": "Model comparison",
    "calibration": "Judge calibration",
    "monitoring": "Production monitoring",
    "explore": "Item explorer",
}
"""Default titles of the known reports (other notebooks get their capitalised name)."""

class ReportParameterError(ConfigError):
    """A parameter is not declared in the notebook's ``parameters`` cell (or the notebook has none)."""


class ReportCellError(ReportError):
    """A report notebook failed in one of its cells.

    Attributes:
        notebook: the notebook that ran.
        cell_index: the failing cell's index in the executed notebook.
        source: the failing cell's source.
        ename: the exception class name raised in the kernel.
        evalue: its message.
        executed: where the executed notebook (with the traceback) is kept.
    """

    notebook: str = ""
    cell_index: int = -1
    source: str = ""
    ename: str = ""
    evalue: str = ""
    executed: str | None = None


_CELL_ERRORS: dict[str, type[ReportCellError]] = {}


def _cell_error_class(ename: str) -> type[ReportCellError]:
    """``ReportCellError``, also subclassing the evaltools error raised in the kernel when it is one."""
    if ename in _CELL_ERRORS:
        return _CELL_ERRORS[ename]
    base = getattr(_errors, ename, None)
    cls: type[ReportCellError] = ReportCellError
    if isinstance(base, type) and issubclass(base, _errors.EvaltoolsError) and base is not ReportError:
        cls = type(f"Report{ename}", (ReportCellError, base), {"__module__": __name__})
    _CELL_ERRORS[ename] = cls
    return cls


# --------------------------------------------------------------------------- notebooks


def notebook_dirs() -> list[Path]:
    """Folders searched for report notebooks, in order (see the module docstring).

    Returns:
        Existing folders only.
    """
    dirs = [Path(p) for p in os.environ.get("EVALTOOLS_NOTEBOOKS", "").split(os.pathsep) if p]
    package = Path(__file__).resolve().parents[1]  # evaltools/
    dirs += [package.parent / "notebooks", package / "notebooks"]
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def available_reports() -> list[str]:
    """Names of the report notebooks that :func:`render_report` can find.

    Returns:
        Sorted names (file stems).
    """
    return sorted({p.stem for d in notebook_dirs() for p in d.glob("*.ipynb") if not p.name.startswith(".")})


def resolve_notebook(name: str | Path) -> Path:
    """The notebook file of a report.

    Args:
        name: a report name (``"eval"``) or a path to an ``.ipynb`` file.

    Returns:
        The notebook path.

    Raises:
        ConfigError: no such report; the message lists the available ones.
    """
    text = str(name)
    if text.endswith(".ipynb") or os.sep in text or "/" in text:
        path = Path(text)
        if path.is_file():
            return path
        raise ConfigError(f"Report notebook not found: {text}. Available reports: {', '.join(available_reports())}.")
    for d in notebook_dirs():
        path = d / f"{text}.ipynb"
        if path.is_file():
            return path
    raise ConfigError(
        f"Unknown report {text!r}. Available reports: {', '.join(available_reports()) or '(none found)'} "
        f"(searched {', '.join(str(d) for d in notebook_dirs())})."
    )


def notebook_parameters(name: str | Path) -> dict[str, dict[str, Any]]:
    """The parameters a report notebook declares (``papermill.inspect_notebook``).

    Args:
        name: a report name or notebook path.

    Returns:
        name -> ``{"name", "inferred_type_name", "default", "help"}``, in
        cell order (``default`` is the source text of the default value).

    Raises:
        ConfigError: unknown report.
    """
    import papermill as pm

    return dict(pm.inspect_notebook(str(resolve_notebook(name))))


def _plain(value: Any) -> Any:
    """Parameters as values papermill can write as Python literals."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def check_parameters(name: str | Path, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate parameter names against the notebook and make the values papermill-friendly.

    Args:
        name: a report name or notebook path.
        params: the parameters.

    Returns:
        The parameters with paths as strings and tuples as lists.

    Raises:
        ReportParameterError: a name the notebook does not declare; the
            message lists the valid names.
        ConfigError: unknown report, or ``params`` is not a mapping.
    """
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"The 'params' parameter of render_report must be a mapping. Got {type(params).__name__}.")
    declared = notebook_parameters(name)
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(declared) if declared else "(none: the notebook has no cell tagged 'parameters')"
        raise ReportParameterError(
            f"Unknown parameter(s) {unknown} for report {str(name)!r}. Valid parameters: {valid}."
        )
    return {str(k): _plain(v) for k, v in params.items()}


# --------------------------------------------------------------------------- kernel


def _kernel_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])  # the folder holding evaltools/
    old = os.environ.get("PYTHONPATH", "")
    return {
        "PLOTLY_RENDERER": "plotly_mimetype",
        "PYTHONPATH": root + (os.pathsep + old if old else ""),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def _kernel_manager_class() -> type:
    """An ``AsyncKernelManager`` whose ``python3`` kernel is this interpreter."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class _SpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            if kernel_name != KERNEL_NAME:
                return super().get_kernel_spec(kernel_name)
            from ipykernel.kernelspec import RESOURCES

            return KernelSpec(
                argv=[sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}",
                      "--IPKernelApp.log_level=ERROR"],
                display_name="Python 3 (evaltools)",
                language="python",
                env=_kernel_env(),
                resource_dir=RESOURCES,
                metadata={"debugger": False},
            )

    class _ReportKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _spec_manager_default(self) -> KernelSpecManager:
            return _SpecManager(data_dir=self.data_dir)

    return _ReportKernelManager


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderedReport:
    """A rendered report: where it is, how long it took, what is in it."""

    name: str
    """The report name (notebook stem)."""
    path: Path
    """The HTML file."""
    executed: Path | None
    """The executed notebook, when kept."""
    seconds_execute: float
    """Wall time of the papermill run."""
    seconds_export: float
    """Wall time of the HTML export (and index)."""
    size_bytes: int
    """Size of the HTML file."""
    n_figures: int
    """Plotly figures in the report."""
    header: dict[str, Any] = field(default_factory=dict)
    """The header shown at the top (title, golden set, runs, version, date)."""
    warnings: tuple[str, ...] = ()
    """stderr text the notebook printed (warnings), left out of the HTML."""

    @property
    def seconds(self) -> float:
        """Total wall time."""
        return self.seconds_execute + self.seconds_export

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.path} ({self.size_bytes / 1e6:.2f} MB, {self.n_figures} figures) in "
            f"{self.seconds:.1f} s (execute {self.seconds_execute:.1f} s, export {self.seconds_export:.1f} s)"
        )


def _version() -> str:
    from evaltools._util import evaltools_version

    return evaltools_version()


def render_report(
    name: str | Path,
    params: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    *,
    keep_executed: bool = True,
    timeout: float | None = 600,
    title: str | None = None,
    cwd: str | Path | None = None,
    index: bool = True,
    progress: bool = False,
) -> RenderedReport:
    """Execute a report notebook with papermill and export it to self-contained HTML.

    Args:
        name: report name (``"eval"``, ``"comparison"``, ``"calibration"``,
            ``"monitoring"``; see :func:`available_reports`) or a notebook path.
        params: values for the notebook's ``parameters`` cell.
        out: the HTML file (default ``reports/<name>.html``).
        keep_executed: keep the executed notebook as ``<out>.ipynb`` (it is
            always kept when a cell fails).
        timeout: seconds each cell may run (None: no limit).
        title: the report title (default from :data:`TITLES`).
        cwd: working directory of the kernel (default: the current one).
        index: rewrite ``index.html`` in the output folder.
        progress: show a progress bar over the notebook's cells (papermill's tqdm).

    Returns:
        A :class:`RenderedReport`.

    Raises:
        ConfigError: unknown report, ``out`` not an ``.html`` path.
        ReportParameterError: a parameter the notebook does not declare.
        ReportCellError: a cell failed; also an instance of the evaltools
            error raised in the cell, when it is one (RunError,
            VersionMismatchError, ConfigError...).
        ReportError: the kernel died or a cell timed out.
        MissingDependencyError: papermill, nbconvert or ipykernel is missing.
    """
    for module in ("papermill", "nbconvert", "ipykernel"):
        try:
            __import__(module)
        except ImportError:
            raise missing_dependency(module) from None
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    nb_path = resolve_notebook(name)
    report = nb_path.stem
    values = check_parameters(nb_path, params)
    out_path = Path(out) if out is not None else Path("reports") / f"{report}.html"
    if out_path.suffix.lower() != ".html":
        raise ConfigError(f"The 'out' parameter of render_report must be an .html file. Got {str(out_path)!r}.")
    if timeout is not None and not timeout > 0:
        raise ConfigError(
            f"The 'timeout' parameter of render_report must be a positive number or None. Got {timeout!r} instead."
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    executed = out_path.with_suffix(".ipynb")
    started = time.perf_counter()
    try:
        nb = pm.execute_notebook(
            str(nb_path), str(executed), parameters=values, kernel_name=KERNEL_NAME, progress_bar=progress,
            log_output=False, execution_timeout=None if timeout is None else int(max(1, round(timeout))),
            start_timeout=120, cwd=None if cwd is None else str(cwd),
            kernel_manager_class=_kernel_manager_class(),
        )  # fmt: skip
    except PapermillExecutionError as exc:
        raise _from_cell_failure(report, nb_path, executed, exc) from None
    except Exception as exc:  # timeouts, a dead kernel: nbclient's own exceptions
        if isinstance(exc, _errors.EvaltoolsError):
            raise
        kept = f" The partly executed notebook is at {executed}." if executed.exists() else ""
        raise ReportError(f"Report {report!r} did not finish: {type(exc).__name__}: {exc}.{kept}") from exc
    seconds_execute = time.perf_counter() - started

    started = time.perf_counter()
    from evaltools.report._export import export_html

    header = {
        "title": title or TITLES.get(report, report.replace("_", " ").capitalize()),
        "report": report,
        "evaltools_version": _version(),
        "rendered_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "parameters": values,
    }
    body, info = export_html(nb, header)
    atomic_write_text(out_path, body)
    if not keep_executed:
        executed.unlink(missing_ok=True)
    if index:
        write_index(out_path.parent)
    merged = {**info.header, **header}
    return RenderedReport(
        name=report, path=out_path, executed=executed if keep_executed else None, seconds_execute=seconds_execute,
        seconds_export=time.perf_counter() - started, size_bytes=out_path.stat().st_size,
        n_figures=info.n_figures, header=merged, warnings=tuple(info.stderr),
    )  # fmt: skip


def _from_cell_failure(report: str, nb_path: Path, executed: Path, exc: Any) -> ReportCellError:
    source = str(getattr(exc, "source", "") or "")
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    where, head = "", lines[0].strip() if lines else source.strip()[:80]
    # The first "---->" line of the IPython traceback is the failing line of the cell itself.
    for frame in getattr(exc, "traceback", None) or []:
        m = re.search(r"^-+>\s*(\d+)\s(.*)$", re.sub(r"\x1b\[[0-9;]*m", "", str(frame)), re.MULTILINE)
        if m:
            where, head = f" at line {m.group(1)}", m.group(2).strip()
            break
    ename, evalue = str(getattr(exc, "ename", "Error")), str(getattr(exc, "evalue", ""))
    index = int(getattr(exc, "cell_index", -1))
    cls = _cell_error_class(ename)
    err = cls(
        f"Report {report!r} failed in cell {index}{where} (`{head[:120]}`): {ename}: {evalue} "
        f"The executed notebook with the traceback is kept at {executed}."
    )
    err.notebook, err.cell_index, err.source = str(nb_path), index, source
    err.ename, err.evalue, err.executed = ename, evalue, str(executed)
    return err


# --------------------------------------------------------------------------- demo


def render_demo_reports(
    golden_dir: str | Path, run_dirs: Sequence[str | Path], out_dir: str | Path = "reports", **kwargs: Any
) -> list[RenderedReport]:
    """Render the eval report (every run) and the comparison report (first run as baseline).

    Args:
        golden_dir: the golden set folder.
        run_dirs: scored run folders; the first is the baseline.
        out_dir: where ``eval.html``, ``comparison.html`` and ``index.html`` go.
        **kwargs: passed to :func:`render_report` (timeout, keep_executed...).

    Returns:
        The rendered reports (the comparison only when there are two runs or more).

    Raises:
        ConfigError: no run given.
    """
    runs = [str(p) for p in run_dirs]
    if not runs:
        raise ConfigError("render_demo_reports needs at least one scored run folder.")
    out = Path(out_dir)
    done = [render_report("eval", {"golden": str(golden_dir), "runs": runs}, out / "eval.html", **kwargs)]
    if len(runs) >= 2:
        done.append(render_report("comparison", {"golden": str(golden_dir), "runs": runs}, out / "comparison.html",
                                  **kwargs))  # fmt: skip
    return done


__all__ = [
    "INDEX_FILE",
    "KERNEL_NAME",
    "TITLES",
    "RenderedReport",
    "ReportCellError",
    "ReportParameterError",
    "available_reports",
    "check_parameters",
    "notebook_dirs",
    "notebook_parameters",
    "render_demo_reports",
    "render_report",
    "resolve_notebook",
    "write_index",
]
