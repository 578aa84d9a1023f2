"""Speed benchmarks: ``python benchmarks/bench.py`` (or ``make bench``).

Prints, in one run on this machine:

* BM25 query latency (median over 50+ queries) for bm25s (as rankshift uses it) against
  rank-bm25's ``BM25Okapi`` at 10k and 100k synthetic documents;
* cross-encoder latency for 100 candidates at max_length 256 and 512, cold (model scores every
  pair) and cached (every pair from the pair-score cache). An untrained cross-encoder of the
  MiniLM-L6 shape is built from the bi-encoder's transformer: timing does not depend on weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rankshift.corpus import collection_from_documents
from rankshift.types import Document


def synthetic_documents(n: int, seed: int = 0, vocab_size: int = 30_000) -> list[Document]:
    """Documents of 40-160 words drawn from a Zipf-like vocabulary (like real term statistics)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(vocab_size)])
    ranks = np.arange(1, vocab_size + 1)
    p = 1.0 / ranks**1.07
    p /= p.sum()
    lengths = rng.integers(40, 160, size=n)
    words = rng.choice(vocab, size=int(lengths.sum()), p=p)
    docs, pos = [], 0
    for i, length in enumerate(lengths):
        docs.append(Document(f"d{i}", " ".join(words[pos : pos + length])))
        pos += length
    return docs


def synthetic_queries(n: int, seed: int = 1, vocab_size: int = 30_000) -> list[str]:
    rng = np.random.default_rng(seed)
    # Mid-frequency terms, as real queries have: not stopword-like, not hapaxes.
    return [
        " ".join(f"w{t}" for t in rng.integers(50, 5_000, size=rng.integers(2, 6)))
        for _ in range(n)
    ]


def _median_ms(fn, queries: list[str]) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_bm25(
    sizes: list[int], n_queries: int, rank_bm25_queries: int
) -> list[tuple[str, int, float, float]]:
    from rank_bm25 import BM25Okapi

    from rankshift.retrievers.bm25 import BM25Retriever

    rows = []
    queries = synthetic_queries(n_queries)
    for size in sizes:
        coll = collection_from_documents(synthetic_documents(size), name=f"synthetic-{size}")
        t = time.perf_counter()
        ours = BM25Retriever(coll, stemmer=None, stopwords=None)
        build_ours = time.perf_counter() - t
        med_ours = _median_ms(lambda q, r=ours: r.search(q, 100), queries)
        rows.append(("bm25s (rankshift)", size, build_ours, med_ours))
        print(
            f"  bm25s      {size:>7,} docs: index {build_ours:6.1f} s, median query {med_ours:8.2f} ms",
            flush=True,
        )
        t = time.perf_counter()
        tokens = ours.tokenize([d.text for d in coll.documents.values()])
        oracle = BM25Okapi(tokens)
        build_oracle = time.perf_counter() - t
        qs = queries[:rank_bm25_queries]
        med_oracle = _median_ms(lambda q, o=oracle: np.argsort(-o.get_scores(q.split()))[:100], qs)
        rows.append(("rank-bm25", size, build_oracle, med_oracle))
        print(
            f"  rank-bm25  {size:>7,} docs: index {build_oracle:6.1f} s, median query {med_oracle:8.2f} ms"
            f"  ({med_oracle / med_ours:,.0f}x slower, {len(qs)} queries)",
            flush=True,
        )
    return rows


def bench_cross_encoder(lengths: list[int], candidates: int = 100) -> list[tuple[int, str, float]]:
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder

    from rankshift.rerank import CrossEncoderReranker, PairScoreCache

    source = snapshot_download("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True)
    rows = []
    rng = np.random.default_rng(0)
    words = [
        "the",
        "reranker",
        "reads",
        "every",
        "query",
        "and",
        "document",
        "pair",
        "together",
        "and",
        "scores",
        "how",
        "well",
        "they",
        "match",
    ]
    # Documents of about 300 words: long enough that 512 tokens is actually used.
    docs = [Document(f"d{i}", " ".join(rng.choice(words, size=300))) for i in range(candidates)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "untrained-minilm-ce"
        CrossEncoder(source, num_labels=1).save(str(folder))
        for max_length in lengths:
            cache = PairScoreCache(Path(tmp) / f"pairs-{max_length}.sqlite")
            reranker = CrossEncoderReranker(
                str(folder), max_length=max_length, cache=cache, batch_size=16
            )
            reranker.score("warm up", docs[:2])  # first call pays one-off initialisation
            t = time.perf_counter()
            _, scored = reranker.score("how well does the reranker match", docs)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            _, scored_again = reranker.score("how well does the reranker match", docs)
            cached = time.perf_counter() - t
            assert scored == candidates and scored_again == 0
            rows.append((max_length, "cold", cold))
            rows.append((max_length, "cached", cached))
            print(
                f"  max_length {max_length}: {candidates} pairs cold {cold:6.2f} s "
                f"({candidates / cold:5.1f} pairs/s), cached {cached * 1000:7.1f} ms",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rankshift.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="10000,100000", help="synthetic corpus sizes for BM25")
    parser.add_argument(
        "--queries", type=int, default=50, help="queries per BM25 measurement (>= 50)"
    )
    parser.add_argument(
        "--rank-bm25-queries", type=int, default=50, help="queries for rank-bm25 (slow at 100k)"
    )
    parser.add_argument("--lengths", default="256,512", help="cross-encoder max_length values")
    parser.add_argument("--skip-ce", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    print(
        f"rankshift bench: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("BM25 (top-100, median per query):")
    bench_bm25([int(s) for s in args.sizes.split(",")], args.queries, args.rank_bm25_queries)
    if not args.skip_ce:
        print("Cross-encoder (untrained MiniLM-L6 shape, 100 candidates of ~300 words, batch 16):")
        bench_cross_encoder([int(x) for x in args.lengths.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
