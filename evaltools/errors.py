"""Errors raised by evaltools.

Every error evaltools raises on purpose is an :class:`EvaltoolsError`. Errors
caused by bad input (a malformed file, an unknown name, a value out of range)
also subclass :class:`ValueError`, so ``except ValueError`` keeps working for
callers who do not know evaltools (the same choice as scikit-learn's
``InvalidParameterError``).
"""

from __future__ import annotations

from pathlib import Path


class EvaltoolsError(Exception):
    """Base class of every error evaltools raises on purpose."""


class InputError(EvaltoolsError, ValueError):
    """Bad input: a value, file or name that evaltools cannot use.

    Args:
        message: what is wrong and what to do about it.
        path: the file the problem is in, when there is one.
        line: the 1-based line number in ``path``, when there is one.
        field: the field (column, key) at fault, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class GoldenSetError(InputError):
    """A golden set (items, card, schema or labels) is malformed."""


class RunError(InputError):
    """A run directory, its manifest or its outputs are malformed or inconsistent."""


class RunLockedError(RunError):
    """Another live process is writing the run (it holds the run folder's lock)."""

    def __init__(self, message: str, *, pid: int | None = None, path: str | Path | None = None) -> None:
        super().__init__(message, path=path)
        self.pid = pid
        """The process holding the lock, when it could be read."""


class SchemaError(InputError):
    """A JSON Schema file is not valid JSON Schema."""


class VersionMismatchError(InputError):
    """A run was made against a different version (content hash) of the golden set."""


class LogError(InputError):
    """Production logs cannot be read as given.

    A missing file or column, a malformed line, an unparseable or ambiguous timestamp;
    ``path``, ``line`` and ``field`` say where.
    """


class ConfigError(InputError):
    """A setting, parameter or name is invalid (unknown scorer, bad threshold...)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a command after it had kept some finished work.

    A :class:`KeyboardInterrupt` (so ``except KeyboardInterrupt`` still
    catches it) that says how much finished work was kept on disk; the
    command line prints ``interrupted: N items kept, rerun the same command
    to resume`` instead of a traceback.

    Args:
        kept: finished items kept (written or cached) before the interruption.
        where: what holds them, e.g. ``runs/x/outputs.jsonl``.
    """

    def __init__(self, kept: int, where: str = "") -> None:
        self.kept = kept
        self.where = where
        super().__init__(f"interrupted: {kept} items kept")


class MissingDependencyError(EvaltoolsError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class LLMError(EvaltoolsError):
    """An LLM endpoint failed in a way retries could not fix."""


class ReportError(EvaltoolsError):
    """A report notebook failed to execute or export."""


class ModelLoadError(EvaltoolsError):
    """A model (embedding or LLM) could not be loaded offline."""


def missing_dependency(package: str, extra: str | None = None) -> MissingDependencyError:
    """Build the error for a dependency that is not installed.

    Args:
        package: the import name that failed.
        extra: the evaltools extra that installs it (``"spark"``, ``"local"``);
            None for a dependency of evaltools itself (an incomplete install).

    Returns:
        A :class:`MissingDependencyError` whose message says what to install.

    Examples:
        >>> str(missing_dependency("pyspark", "spark"))
        "The optional dependency 'pyspark' is not installed. Install it with: pip install 'evaltools[spark]'"
        >>> str(missing_dependency("plotly"))
        "'plotly' is a dependency of evaltools but is not installed here. Install it with: pip install plotly"
    """
    if extra is None:
        return MissingDependencyError(
            f"'{package}' is a dependency of evaltools but is not installed here. Install it with: pip install {package}"
        )
    return MissingDependencyError(
        f"The optional dependency '{package}' is not installed. Install it with: pip install 'evaltools[{extra}]'"
    )


class MonitorWarning(UserWarning):
    """Monitoring ran, but something the user should know changed or limited the result.

    Examples: a series given in reverse time order (sorted), a metric that can never be scored
    with the current settings (the message names the setting to change).
    """
