"""A synthetic corpus with realistic term statistics, for the scale benchmarks.

What it imitates, and why each part matters to a first stage:

* **Words that look like words.** Pseudo-words are built from English-like syllables with
  inflectional endings (``-s``, ``-ed``, ``-ing``, ``-er``, ``-tion``...), so lower-casing, the
  token regex and the Snowball stemmer do the work they do on real text (and several surface
  forms stem to one term). The most frequent words are real English function words, so the
  stopword list removes what it removes on real text. Frequent words are short, rare ones long.
* **Zipfian term frequencies.** Word ``r`` (by frequency rank) is drawn with probability
  proportional to ``1 / r**1.07`` over a vocabulary of ``vocab_size`` words.
* **Topics.** Each document has a topic; a share of its words (``topic_share``) is drawn from
  that topic's own words (Zipfian within the topic), the rest from the whole vocabulary. Terms
  co-occur as on real text, so a query's terms meet in the same documents and documents of one
  topic resemble each other (which gives dense embeddings a realistic cluster structure).
* **Lengths** of 50-200 words, uniform.

Queries have 2-6 mid-frequency terms (document frequency between ``MID_DF`` of the collection):
half are taken from a random document (they have a real match), half are drawn from one topic's
words. Everything is deterministic for a given seed.

Dense vectors (:func:`embed_words`): every pseudo-word gets a random vector, structured so that
embeddings have the statistics of a real bi-encoder's (see :data:`SHARED_WEIGHT`); a document
or a query is the normalised tf-idf weighted sum of its words' vectors (a sparse doc-term matrix
times the word vectors) plus a direction every text shares. Uniformly random word vectors, or
random unit vectors for the documents, have a far higher effective dimension than real
embeddings, and HNSW needs far more work on them for the same recall.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from rankshift.types import Document


def _words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _words(
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if will can "
    "so no more other who into its some these them than then may only two about also after "
    "such over could first any most what our between new where under those through up while "
    "both each many out however same how during being much used well very before"
)
"""Real function words: the head of the frequency ranking, as on English text."""

ONSETS = _words(
    "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr st tr ch sh th bl cl gl sl sp sc "
    "str qu"
)
VOWELS = _words("a e i o u a e i o ai ea ee ou io oa y")
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "rt", "x", "ph"]
SUFFIXES = ["", "", "", "", "s", "ed", "ing", "er", "ly", "tion", "ness", "ment", "able", "es"]

VERSION = 1
"""Bumped when the generator changes what it generates (cached corpora are keyed by it)."""
ZIPF_EXPONENT = 1.07
MID_DF = (0.0005, 0.02)
"""Document-frequency band of query terms, as shares of the collection."""


def pseudo_words(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct pseudo-words, shortest first (frequent words are short)."""
    words: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        batch = 2 * (n - len(out)) + 100
        syllables = rng.choice([1, 2, 2, 3, 3, 4], size=batch)
        onset = rng.integers(0, len(ONSETS), size=(batch, 4))
        vowel = rng.integers(0, len(VOWELS), size=(batch, 4))
        coda = rng.integers(0, len(CODAS), size=(batch, 4))
        suffix = rng.integers(0, len(SUFFIXES), size=batch)
        for i in range(batch):
            w = "".join(
                ONSETS[onset[i, j]] + VOWELS[vowel[i, j]] + CODAS[coda[i, j]]
                for j in range(syllables[i])
            )
            w += SUFFIXES[suffix[i]]
            if len(w) > 2 and w not in words and w not in FUNCTION_WORDS:
                words.add(w)
                out.append(w)
                if len(out) == n:
                    break
    # Shortest first, with noise: frequent words tend to be short, not strictly so.
    keys = np.array([len(w) for w in out]) + rng.normal(0, 1.5, size=n)
    return [out[i] for i in np.argsort(keys, kind="stable")]


@dataclass
class SyntheticQuery:
    text: str
    words: np.ndarray
    """Word ids of the query's terms."""
    source: int | None
    """The document the terms were taken from (``None``: drawn from a topic)."""


@dataclass
class SyntheticCorpus:
    """``n`` documents as word ids into ``vocab`` (``words[offsets[i]:offsets[i + 1]]``)."""

    vocab: list[str]
    words: np.ndarray
    offsets: np.ndarray
    topics: np.ndarray
    """Each document's topic."""
    topic_words: np.ndarray
    """``(topics, words per topic)`` word ids, most frequent first."""
    seed: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def doc_id(self, i: int) -> str:
        return f"d{i}"

    def text(self, i: int) -> str:
        vocab = self.vocab
        return " ".join([vocab[w] for w in self.words[self.offsets[i] : self.offsets[i + 1]]])

    def texts(self) -> list[str]:
        vocab = self.vocab
        ws = self.words.tolist()
        offs = self.offsets.tolist()
        return [" ".join([vocab[w] for w in ws[a:b]]) for a, b in itertools.pairwise(offs)]

    def documents(self) -> list[Document]:
        from rankshift.types import Document

        return [Document(f"d{i}", t) for i, t in enumerate(self.texts())]

    @cached_property
    def doc_term(self) -> csr_matrix:
        """Term counts, ``(documents, vocabulary)``, float32."""
        from scipy.sparse import csr_matrix

        data = np.ones(len(self.words), dtype=np.float32)
        # Copies: summing duplicates sorts and merges the index arrays in place.
        m = csr_matrix(
            (data, self.words.copy(), self.offsets.copy()),
            shape=(len(self), len(self.vocab)),
            dtype=np.float32,
        )
        m.sum_duplicates()
        return m

    @cached_property
    def df(self) -> np.ndarray:
        """Document frequency of each word."""
        return np.bincount(self.doc_term.indices, minlength=len(self.vocab))

    @cached_property
    def idf(self) -> np.ndarray:
        return np.log((1 + len(self)) / (1 + self.df)).astype(np.float32)

    def queries(self, n: int, seed: int = 1) -> list[SyntheticQuery]:
        """``n`` queries of 2-6 mid-frequency terms; every other one taken from a document."""
        rng = np.random.default_rng([self.seed, seed])
        lo, hi = (int(f * len(self)) for f in MID_DF)
        mid = (self.df >= max(lo, 2)) & (self.df <= max(hi, 3))
        out: list[SyntheticQuery] = []
        while len(out) < n:
            size = int(rng.integers(2, 7))
            if len(out) % 2 == 0:
                i = int(rng.integers(0, len(self)))
                doc = self.words[self.offsets[i] : self.offsets[i + 1]]
                pool = np.unique(doc[mid[doc]])
                source: int | None = i
            else:
                t = int(rng.integers(0, len(self.topic_words)))
                pool = self.topic_words[t][mid[self.topic_words[t]]]
                source = None
            if len(pool) < size:
                continue
            terms = rng.choice(pool, size=size, replace=False)
            out.append(SyntheticQuery(" ".join(self.vocab[w] for w in terms), terms, source))
        return out

    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=8)
        h.update(self.words.tobytes())
        h.update(self.offsets.tobytes())
        return h.hexdigest()


def generate(
    n: int,
    seed: int = 0,
    vocab_size: int = 200_000,
    topics: int = 2_000,
    topic_share: float = 0.3,
    lengths: tuple[int, int] = (50, 200),
) -> SyntheticCorpus:
    """``n`` documents (see the module docstring); about 25 s per million on one core."""
    rng = np.random.default_rng(seed)
    head = list(FUNCTION_WORDS)
    vocab = head + pseudo_words(vocab_size - len(head), rng)
    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    cdf = np.cumsum(ranks**-ZIPF_EXPONENT)
    cdf /= cdf[-1]
    # Topic words: the content words (past the function words), dealt round-robin in a random
    # order so every topic has the same number, each topic's list most frequent first.
    content = np.arange(len(head), vocab_size)
    per_topic = len(content) // topics
    dealt = rng.permutation(content)[: per_topic * topics].reshape(topics, per_topic)
    topic_words = np.sort(dealt, axis=1).astype(np.int32)
    topic_cdf = np.cumsum(np.arange(1, per_topic + 1, dtype=np.float64) ** -1.0)
    topic_cdf /= topic_cdf[-1]

    doc_len = rng.integers(lengths[0], lengths[1] + 1, size=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(doc_len, out=offsets[1:])
    total = int(offsets[-1])
    # Documents' topics: some topics are more popular than others (Zipf over topics, mild).
    topic_p = np.arange(1, topics + 1, dtype=np.float64) ** -0.5
    doc_topic = rng.choice(topics, size=n, p=topic_p / topic_p.sum()).astype(np.int32)
    words = np.searchsorted(cdf, rng.random(total)).astype(np.int32)
    from_topic = rng.random(total) < topic_share
    positions = np.flatnonzero(from_topic)
    owner = np.searchsorted(offsets, positions, side="right") - 1
    local = np.searchsorted(topic_cdf, rng.random(len(positions)))
    words[positions] = topic_words[doc_topic[owner], local]
    np.minimum(words, vocab_size - 1, out=words)
    return SyntheticCorpus(vocab, words, offsets, doc_topic, topic_words, seed)


SPECTRUM_DECAY = 1.0
TOPIC_WEIGHT = 0.3
SHARED_WEIGHT = 0.35
"""The structure of the synthetic embeddings (:func:`word_vectors`, :func:`embed_texts`),
calibrated on all-MiniLM-L6-v2's embeddings of BEIR SciFact (5,183 abstracts, 400 test and
train queries) against a synthetic corpus of the same size:

==========================================  =================  =================
statistic                                   SciFact            synthetic
==========================================  =================  =================
norm of the mean document / query           0.36 / 0.35        0.31 / 0.31
participation ratio of the spectrum         65                 42
cosine of a document to its 1st/10th/100th  0.68 / 0.53 / 0.40  0.80 / 0.50 / 0.38
nearest document
cosine of a query to its 1st/10th/100th     0.63 / 0.45 / 0.33  0.60 / 0.46 / 0.38
nearest document; median                    0.10               0.10
HNSW recall@100 (efConstruction 40), M=4,   0.81 / 0.91        0.75 / 0.85
efSearch 100 / 200
the same, M=8                               0.92 / 0.98        0.89 / 0.96
==========================================  =================  =================

Real embeddings are anisotropic (every text shares a direction) and have a low effective
dimension; the synthetic ones are a little harder for HNSW than SciFact's, so their recall is
on the safe side. Uniformly random word vectors (``calibrated=False``) give far harder ones.
"""


def word_vectors(
    corpus: SyntheticCorpus, dim: int = 384, seed: int = 7, calibrated: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(one unit vector per word ``(vocab, dim)``, the direction every text shares ``(dim,)``).

    Calibrated (the default): Gaussian with a power-law spectrum (the variance of dimension
    ``i`` is proportional to ``i ** -SPECTRUM_DECAY``), pulled towards the word's topic vector.
    Not calibrated: uniformly random directions, and no shared direction.
    """
    rng = np.random.default_rng(seed)
    words = rng.standard_normal((len(corpus.vocab), dim), dtype=np.float32)
    shared = np.zeros(dim, dtype=np.float32)
    if calibrated:
        scale = np.sqrt(np.arange(1, dim + 1, dtype=np.float64) ** -SPECTRUM_DECAY)
        scale = (scale / np.linalg.norm(scale)).astype(np.float32)
        words *= scale
        _normalise(words)
        topic = rng.standard_normal((len(corpus.topic_words), dim), dtype=np.float32) * scale
        _normalise(topic)
        shared = rng.standard_normal(dim).astype(np.float32) * scale
        shared /= np.linalg.norm(shared)
        words *= 1 - TOPIC_WEIGHT
        for t, ids in enumerate(corpus.topic_words):
            words[ids] += TOPIC_WEIGHT * topic[t]
    _normalise(words)
    return words, shared * SHARED_WEIGHT


def embed_words(
    corpus: SyntheticCorpus,
    dim: int = 384,
    seed: int = 7,
    calibrated: bool = True,
    chunk: int = 100_000,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(document embeddings ``(n, dim)`` float32 unit rows, the :func:`word_vectors` for
    :func:`embed_queries`).

    A text's embedding is its words' vectors weighted by tf * idf, summed (a sparse doc-term
    matrix times the word vectors) and normalised, plus the shared direction, normalised.
    """
    words, shared = word_vectors(corpus, dim, seed, calibrated)
    weighted = words * corpus.idf[:, None]
    m = corpus.doc_term
    out = np.empty((len(corpus), dim), dtype=np.float32)
    for start in range(0, len(corpus), chunk):
        block = np.asarray(m[start : start + chunk] @ weighted, dtype=np.float32)
        _normalise(block)
        out[start : start + chunk] = block + shared
    _normalise(out)
    return out, (words, shared)


def embed_queries(
    corpus: SyntheticCorpus,
    queries: list[SyntheticQuery],
    vectors: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Query embeddings, made like documents' (each term once, idf-weighted)."""
    words, shared = vectors
    out = np.stack([(words[q.words] * corpus.idf[q.words, None]).sum(0) for q in queries])
    _normalise(out)
    out += shared
    _normalise(out)
    return out.astype(np.float32)


def random_unit_vectors(n: int, dim: int = 384, seed: int = 11) -> np.ndarray:
    """Uniformly random unit vectors (no structure: the hardest case for HNSW)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        out[start : start + 100_000] = rng.standard_normal(
            (min(100_000, n - start), dim), dtype=np.float32
        )
    _normalise(out)
    return out


def _normalise(x: np.ndarray) -> None:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, np.maximum(norms, 1e-12), out=x)


def load_or_generate(n: int, cache: Path | None, seed: int = 0) -> SyntheticCorpus:
    """:func:`generate`, cached as ``.npz`` under ``cache`` (never in the repository)."""
    if cache is None:
        return generate(n, seed)
    path = cache / f"synthetic-v{VERSION}-n={n}-seed={seed}.npz"
    if path.exists():
        z = np.load(path)
        vocab = z["vocab"].tolist()
        return SyntheticCorpus(
            vocab, z["words"], z["offsets"], z["topics"], z["topic_words"], int(z["seed"])
        )
    corpus = generate(n, seed)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        vocab=np.array(corpus.vocab),
        words=corpus.words,
        offsets=corpus.offsets,
        topics=corpus.topics,
        topic_words=corpus.topic_words,
        seed=corpus.seed,
    )
    tmp.rename(path)
    return corpus
