"""Speed benchmarks: ``python benchmarks/bench.py`` (or ``make bench``).

Prints, in one run on this machine:

* BM25 query latency (median over 50+ queries) for bm25s (as rankshift uses it) against
  rank-bm25's ``BM25Okapi`` at 10k and 100k synthetic documents;
* the in-process reranker backends (torch, bf16, onnx, onnx-int8, openvino, openvino-int8,
  openvino-auto, and openvino-int8 under the CPU plugin's default precision) on the demo reranker
  (``make demo-reranker``): pairs/s at max_length 256 and 512 on 100 BM25 candidates of demo
  test queries (as they are, and lengthened so every pair fills max_length), each as a ratio to
  torch fp32 and to this machine's fp32 compute floor (measured matmul GFLOP/s over the
  model's GFLOP per pair); the first load with its export; the time to rerank 50 candidates; and
  ranking quality on the demo test queries (Kendall's tau against torch fp32, nDCG@10). Without
  the demo reranker, speed only, on an untrained cross-encoder of the same shape.

Figures are noisy when other work runs on the machine: each is the best of repeated runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# -- reranker backends --------------------------------------------------------------------------

BENCH_BATCH = 16
"""Pairs per model call: the reranker's default, what the app and the CLI use."""
ROUNDS = 3
"""Speed runs go round every backend this many times and keep each one's best: other work on a
shared machine slows single runs down, never speeds them up, and a slow spell then hits every
backend alike instead of the one that happened to be running."""
LONG_WORDS = 600
"""Words of a "long" candidate: enough that every pair is cut at 512 tokens."""
LONG = 50
"""Long candidates timed (the first timed query's top 50, lengthened)."""
HINT_ROWS = (("openvino-int8", None),)
"""Extra rows: the int8 OpenVINO export compiled with the CPU plugin's default precision hint
(bf16 on CPUs with AMX) instead of f32. Not a spec backend: measured to see what it would offer
(``openvino-auto`` is that hint on the fp32 export)."""


def matmul_gflops(seconds: float = 3.0, n: int = 2048) -> float:
    """This machine's fp32 matrix-multiply throughput (torch, all its threads): the best of
    quarter-second windows of ``n x n`` products."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        k, t = 0, time.perf_counter()
        while time.perf_counter() - t < 0.25:
            torch.matmul(a, b)
            k += 1
        best = max(best, 2 * n**3 * k / (time.perf_counter() - t) / 1e9)
    return best


@dataclass(frozen=True)
class Shape:
    """The encoder's layer shapes, which fix the compute one pair costs."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def of(cls, reranker: Any) -> Shape:
        config = reranker.model.model.config
        return cls(config.num_hidden_layers, config.hidden_size, config.intermediate_size)

    def gflop(self, tokens: int) -> float:
        """GFLOP of one forward pass over ``tokens`` tokens: per layer the Q, K, V and output
        projections (4 t h^2 multiply-adds), the feed-forward block (2 t h i) and attention's
        two t x t products (2 t^2 h), at 2 FLOP per multiply-add. Embeddings, norms, softmax and
        the head are left out (about 1%)."""
        t, h, i = tokens, self.hidden, self.intermediate
        return self.layers * 2 * (4 * t * h * h + 2 * t * h * i + 2 * t * t * h) / 1e9


@dataclass(frozen=True)
class Candidates:
    """One query's first-stage candidates."""

    query_id: str
    query: str
    doc_ids: list[str]
    texts: list[str]


def bm25_candidates(coll: Any, queries: list[Any], k: int) -> list[Candidates]:
    from rankshift.retrievers.bm25 import BM25Retriever

    retriever = BM25Retriever(coll)
    out = []
    for q in queries:
        hits = retriever.search(q.text, k)
        ids = [h.doc_id for h in hits]
        out.append(Candidates(q.query_id, q.text, ids, [coll.documents[d].full_text for d in ids]))
    return out


def lengthened(coll: Any, cands: Candidates) -> Candidates:
    """The same candidates, each followed by the next corpus documents up to LONG_WORDS words:
    real text that fills 512 tokens, so the model does the full-length work."""
    docs = list(coll.documents.values())
    position = {d.doc_id: i for i, d in enumerate(docs)}
    texts = []
    for doc_id in cands.doc_ids:
        i, parts, words = position[doc_id], [], 0
        while words < LONG_WORDS:
            text = docs[i % len(docs)].full_text
            parts.append(text)
            words += len(text.split())
            i += 1
        texts.append("\n\n".join(parts))
    return Candidates(cands.query_id, cands.query, cands.doc_ids, texts)


def pairs_per_second(reranker: Any, sets: list[Candidates]) -> float:
    """Pairs scored per second in one run over ``sets``, cold pair cache."""
    from rankshift.rerank import PairScoreCache

    reranker.cache = PairScoreCache(None)
    t = time.perf_counter()
    scored = sum(reranker.score_texts(c.query, c.texts)[1] for c in sets)
    return scored / (time.perf_counter() - t)


def scores_by_query(reranker: Any, sets: list[Candidates]) -> dict[str, list[float]]:
    from rankshift.rerank import PairScoreCache

    reranker.cache = PairScoreCache(None)
    return {c.query_id: [s for s, _, _ in reranker.score_texts(c.query, c.texts)[0]] for c in sets}


def quality(
    scores: dict[str, list[float]],
    reference: dict[str, list[float]],
    sets: list[Candidates],
    qrels: Any,
) -> tuple[float, float]:
    """(mean Kendall's tau against the reference scores per query, nDCG@10 of the reranking)."""
    from scipy.stats import kendalltau

    from rankshift.evaluation.metrics import evaluate, rank_scored

    taus = []
    rankings = {}
    for c in sets:
        s = scores[c.query_id]
        if len(s) > 1:
            tau = kendalltau(s, reference[c.query_id]).statistic
            if tau == tau:  # nan when one side is constant
                taus.append(float(tau))
        order = sorted(range(len(s)), key=lambda i: (-s[i], c.doc_ids[i]))
        rankings[c.query_id] = [c.doc_ids[i] for i in order]
    ndcg = evaluate(qrels, rank_scored(rankings), ["nDCG@10"], query_ids=list(rankings))
    return sum(taus) / max(1, len(taus)), ndcg.mean["nDCG@10"]


def load_backend(
    model_dir: Path, backend: str, hint: str | None, max_length: int, work: Path
) -> tuple[Any, float, str | None]:
    """Load one backend with its own, empty export cache (so the first load exports)."""
    from rankshift.rerank import try_load_reranker

    # Every backend gets a cache of its own: the first load is a cold export, as for a user
    # picking it first. The hint rows reuse their backend's export.
    os.environ["RANKSHIFT_CACHE"] = str(work / "caches" / backend)
    t = time.perf_counter()
    if backend.startswith("openvino") and backend != "openvino-auto" and hint is None:
        from rankshift.rerank.exported import ExportedReranker

        try:
            reranker = ExportedReranker(
                f"{backend}:{model_dir}", max_length, BENCH_BATCH, openvino_hint=None
            )
        except ImportError as e:
            return None, 0.0, str(e)
        return reranker, time.perf_counter() - t, None
    reranker, error = try_load_reranker(
        f"{backend}:{model_dir}", max_length, batch_size=BENCH_BATCH
    )
    return reranker, time.perf_counter() - t, error


def bench_backends(
    lengths: list[int], backends: list[str], speed_queries: int, candidates: int, quality_k: int
) -> list[dict[str, Any]]:
    """The backends table (see the module docstring); returns its rows."""
    from rankshift.config import DEMO_DIR, demo_reranker_dir
    from rankshift.corpus import load_collection

    gflops_before = matmul_gflops()
    coll = load_collection(DEMO_DIR)
    ranked = bm25_candidates(coll, list(coll.queries_for("test").values()), candidates)
    full = [c for c in ranked if len(c.doc_ids) >= candidates]
    first = full[0]
    long_set = Candidates(first.query_id, first.query, first.doc_ids[:LONG], first.texts[:LONG])
    sets = {"demo": full[:speed_queries], "long": [lengthened(coll, long_set)]}
    new = next(c for c in full[speed_queries:] if len(c.doc_ids) >= 50)
    latency = Candidates(new.query_id, new.query, new.doc_ids[:50], new.texts[:50])
    quality_sets = [
        Candidates(c.query_id, c.query, c.doc_ids[:quality_k], c.texts[:quality_k]) for c in ranked
    ]
    model_dir = demo_reranker_dir()
    trained = (model_dir / "config.json").is_file()
    work = Path(tempfile.mkdtemp(prefix="rankshift-bench-"))
    if not trained:
        print(
            f"  no demo reranker at {model_dir}: `make demo-reranker` trains it. Measuring speed "
            "only, on an untrained cross-encoder of the MiniLM-L6 shape (speed does not depend "
            "on weights).",
            flush=True,
        )
        model_dir = untrained_minilm_cross_encoder(work / "untrained-minilm-ce")
    saved_cache = os.environ.get("RANKSHIFT_CACHE")
    runs = [(b, "f32") for b in backends] + [r for r in HINT_ROWS if r[0] in backends]
    rows: list[dict[str, Any]] = []
    loaded: list[dict[int, Any]] = []
    try:
        for backend, hint in runs:
            row, rerankers = load_row(model_dir, backend, hint, lengths, work, sets)
            rows.append(row)
            loaded.append(rerankers)
            status = row.get("error") or f"loaded in {row['load']:.1f} s"
            print(f"  {row['backend']}: {status}", flush=True)
        for r in range(ROUNDS):
            t = time.perf_counter()
            for row, rerankers in zip(rows, loaded, strict=True):
                if rerankers:
                    speed_round(row, rerankers, sets, latency)
            print(f"  speed round {r + 1}/{ROUNDS}: {time.perf_counter() - t:.0f} s", flush=True)
        if trained:
            t = time.perf_counter()
            for row, rerankers in zip(rows, loaded, strict=True):
                if rerankers:
                    row["scores"] = scores_by_query(rerankers[lengths[0]], quality_sets)
            print(f"  quality runs: {time.perf_counter() - t:.0f} s", flush=True)
    finally:
        loaded.clear()
        if saved_cache is None:
            os.environ.pop("RANKSHIFT_CACHE", None)
        else:
            os.environ["RANKSHIFT_CACHE"] = saved_cache
        shutil.rmtree(work, ignore_errors=True)
    cost: dict[tuple[str, int], float] = {}
    """Mean GFLOP per pair of each candidate set at each max_length."""
    shape: Shape | None = next((row["shape"] for row in rows if "shape" in row), None)
    if shape is not None:
        tokens = next(row["tokens"] for row in rows if "tokens" in row)
        cost = {key: sum(shape.gflop(x) for x in ts) / len(ts) for key, ts in tokens.items()}
    gflops_after = matmul_gflops()
    gflops = max(gflops_before, gflops_after)
    print(
        f"  fp32 matmul (2048x2048, torch, {_threads()} threads): {gflops_before:,.0f} GFLOP/s "
        f"before, {gflops_after:,.0f} after; the floor uses {gflops:,.0f}"
    )
    if shape is not None:
        print(
            f"  model {model_dir.name}: {shape.layers} layers, hidden {shape.hidden}, "
            f"intermediate {shape.intermediate}; "
            + ", ".join(f"{shape.gflop(n):.2f} GFLOP per pair of {n} tokens" for n in lengths)
            + " -> fp32 floor "
            + ", ".join(f"{gflops / shape.gflop(n):.0f} pairs/s at {n}" for n in lengths)
        )
        print(
            f"  demo: the top {candidates} BM25 candidates of {len(sets['demo'])} demo test "
            "query(s), mean "
            + ", ".join(f"{cost[('demo', n)]:.2f} GFLOP per pair at {n}" for n in lengths)
            + f"; long: the first query's top {LONG} lengthened to {LONG_WORDS}+ words "
            "(every pair cut at max_length)"
        )
    print_speed(rows, lengths, {k: gflops / v for k, v in cost.items()})
    if trained:
        print_quality(rows, coll, quality_sets, quality_k, lengths[0])
    return rows


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def load_row(
    model_dir: Path,
    backend: str,
    hint: str | None,
    lengths: list[int],
    work: Path,
    sets: dict[str, list[Candidates]],
) -> tuple[dict[str, Any], dict[int, Any]]:
    """Load a backend at each max_length (the first load exports); its table row so far and the
    rerankers by max_length (none when it cannot load)."""
    row: dict[str, Any] = {"backend": backend if hint else f"{backend} [default hint]"}
    rerankers: dict[int, Any] = {}
    for max_length in lengths:
        reranker, seconds, error = load_backend(model_dir, backend, hint, max_length, work)
        if reranker is None:
            return {"backend": row["backend"], "error": error}, {}
        if not rerankers:
            row["load"] = seconds
            row["cached"] = bool(getattr(reranker, "loaded_from_cache", False))
            row["quantization"] = getattr(reranker, "quantization", "none (fp32)")
            if backend == "bf16":
                row["quantization"] = "bf16 weights and activations (torch)"
            precision = getattr(reranker, "precision", None)
            if precision not in (None, "f32"):
                row["quantization"] += f", run at {precision} (the OpenVINO CPU plugin's choice)"
            row["shape"] = Shape.of(reranker)
            row["tokens"] = {}
        for kind, group in sets.items():
            row["tokens"][(kind, max_length)] = [
                min(n, max_length) for c in group for n in reranker.count_tokens(c.query, c.texts)
            ]
        reranker.score_texts("warm up", ["one-off initialisation", "of the backend"])
        rerankers[max_length] = reranker
    return row, rerankers


def speed_round(
    row: dict[str, Any],
    rerankers: dict[int, Any],
    sets: dict[str, list[Candidates]],
    latency: Candidates,
) -> None:
    """One timed run of every candidate set at every max_length; the row keeps the best."""
    from rankshift.rerank import PairScoreCache

    for max_length, reranker in rerankers.items():
        for kind, group in sets.items():
            key = (kind, max_length)
            row[key] = max(row.get(key, 0.0), pairs_per_second(reranker, group))
    first = next(iter(rerankers.values()))
    first.cache = PairScoreCache(None)
    t = time.perf_counter()
    first.score_texts(latency.query, latency.texts)
    row["latency"] = min(row.get("latency", float("inf")), time.perf_counter() - t)


def untrained_minilm_cross_encoder(folder: Path) -> Path:
    """An untrained cross-encoder of the MiniLM-L6 shape, built from the bi-encoder's transformer
    (timing does not depend on weights)."""
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder

    source = snapshot_download("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True)
    CrossEncoder(source, num_labels=1).save(str(folder))
    return folder


def print_speed(
    rows: list[dict[str, Any]], lengths: list[int], floors: dict[tuple[str, int], float]
) -> None:
    cells = [(kind, n) for n in lengths for kind in ("demo", "long")]
    print(
        f"  {'backend':<28}{'load s':>13}"
        + "".join(f" | {f'{kind}@{n} p/s    xT    fl':>24}" for kind, n in cells)
        + f" | {'50 cand s':>9}"
    )
    base = rows[0] if rows and "error" not in rows[0] else None
    for row in rows:
        if "error" in row:
            print(f"  {row['backend']:<28} not available: {row['error']}")
            continue
        load = f"{row['load']:.1f}" + (" (cached)" if row.get("cached") else "")
        line = f"  {row['backend']:<28}{load:>13}"
        for cell in cells:
            pps = row[cell]
            ratio = f"{pps / base[cell]:5.2f}x" if base else "    ?"
            line += f" | {pps:10.1f} {ratio} {pps / floors[cell]:5.0%}"
        print(line + f" | {row['latency']:9.2f}")
    print(
        f"  p/s: pairs per second, cold pair cache, best of {ROUNDS} rounds; xT: ratio to the first "
        "row (torch fp32); fl: share of the fp32 compute floor (matmul GFLOP/s over GFLOP per "
        "pair: bf16 and int8 kernels can pass 100%); load: first load including the export, "
        "each backend with an empty export cache of its own; 50 cand s: reranking the 50 BM25 "
        f"candidates of another query at max_length {lengths[0]}, warm model, cold pair cache "
        f"(best of {ROUNDS})."
    )


def print_quality(
    rows: list[dict[str, Any]], coll: Any, sets: list[Candidates], k: int, max_length: int
) -> None:
    from rankshift.evaluation.metrics import evaluate, rank_scored

    first = evaluate(
        coll.qrels["test"], rank_scored({c.query_id: c.doc_ids for c in sets}), ["nDCG@10"]
    ).mean["nDCG@10"]
    print(
        f"Ranking quality: {len(sets)} demo test queries, BM25 top-{k} reranked at max_length "
        f"{max_length} (BM25 alone: nDCG@10 {first:.4f}):"
    )
    print(f"  {'backend':<28}{'tau vs fp32':>12}{'nDCG@10':>10}{'delta':>9}  quantization")
    reference = rows[0].get("scores")
    if reference is None:
        return
    for row in rows:
        if "scores" in row:
            row["tau"], row["ndcg"] = quality(row["scores"], reference, sets, coll.qrels["test"])
    base = rows[0]["ndcg"]
    for row in rows:
        if "ndcg" not in row:
            continue
        delta = row["ndcg"] - base
        print(
            f"  {row['backend']:<28}{row['tau']:12.3f}{row['ndcg']:10.4f}{delta:+9.4f}  "
            f"{row['quantization']}"
        )


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
    parser.add_argument("--lengths", default="256,512", help="reranker max_length values")
    parser.add_argument(
        "--backends",
        default="torch,bf16,onnx,onnx-int8,openvino,openvino-int8,openvino-auto",
        help="in-process reranker backends to measure (torch first: the others are compared to it)",
    )
    parser.add_argument(
        "--speed-queries", type=int, default=1, help="demo test queries whose candidates are timed"
    )
    parser.add_argument("--candidates", type=int, default=100, help="candidates per timed query")
    parser.add_argument(
        "--quality-k", type=int, default=50, help="BM25 candidates reranked per query for quality"
    )
    parser.add_argument("--skip-bm25", action="store_true")
    parser.add_argument("--skip-ce", action="store_true", help="skip the reranker backends")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars on every model load

    print(
        f"rankshift bench: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    if not args.skip_bm25:
        print("BM25 (top-100, median per query):")
        bench_bm25([int(x) for x in args.sizes.split(",")], args.queries, args.rank_bm25_queries)
    if not args.skip_ce:
        print(f"Reranker backends (batch {BENCH_BATCH}):")
        bench_backends(
            [int(x) for x in args.lengths.split(",")],
            [b.strip() for b in args.backends.split(",") if b.strip()],
            args.speed_queries,
            args.candidates,
            args.quality_k,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
