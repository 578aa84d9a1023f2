"""MaxP: windows that cover a long text, a wrapper that scores a document by its best window,
and the best passage of a demo document whose answer sits past the window."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rankshift.corpus import Collection
from rankshift.explain import best_passage
from rankshift.rerank import PairScoreCache, Reranker, RerankerSpec, load_reranker, rerank
from rankshift.rerank.passages import PassageReranker, split_windows
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.types import Document, ScoredDoc, StageResult

MAX_LENGTH = 128
"""The cosine reranker's window (see conftest.py)."""
QUERY = "deadline for giving employees their P60"
FACT = "you must give it to them by 31 May"


def test_a_short_text_is_one_window_holding_it_exactly(cosine_reranker: Reranker) -> None:
    tok = cosine_reranker.tokenizer  # type: ignore[attr-defined]
    [w] = split_windows(tok, "a query", "Short text here.", 128, title="Title")
    assert (w.token_start, w.char_start, w.char_end) == (0, 0, len("Short text here."))
    assert w.text == "Title\nShort text here." and w.is_whole
    [untitled] = split_windows(tok, "a query", "Short text here.", 128)
    assert untitled.text == "Short text here."


def test_windows_cover_a_long_text_overlap_by_the_stride_and_fit_the_model(
    cosine_reranker: Reranker,
) -> None:
    tok = cosine_reranker.tokenizer  # type: ignore[attr-defined]
    text = " ".join(f"Paragraph {i} says something about topic {i * 7}." for i in range(60))
    windows = split_windows(tok, QUERY, text, MAX_LENGTH, title="A title")
    n = windows[0].total_tokens
    size = windows[0].token_end
    assert len(windows) > 3 and windows[0].token_start == 0 and windows[-1].token_end == n
    starts = [w.token_start for w in windows]
    assert all(b - a == size // 2 for a, b in itertools.pairwise(starts))
    for w in windows:
        assert w.text == "A title\n" + text[w.char_start : w.char_end]
        assert w.text.split("\n", 1)[1].strip()
    counts = cosine_reranker.count_tokens(QUERY, [w.text for w in windows])
    assert counts is not None and max(counts) <= MAX_LENGTH
    # A stride longer than a window is one window: no text is skipped.
    wide = split_windows(tok, QUERY, text, MAX_LENGTH, title="A title", stride=10_000)
    assert all(b.token_start == a.token_end for a, b in itertools.pairwise(wide))
    assert wide[-1].token_end == n


def test_maxp_spec_loads_a_passage_reranker_sharing_the_models_cached_pairs(
    cosine_reranker_dir: Path,
) -> None:
    cache = PairScoreCache(None)
    plain = load_reranker(str(cosine_reranker_dir), MAX_LENGTH, cache=cache)
    maxp = load_reranker(f"{cosine_reranker_dir}?passages=maxp&stride=40", MAX_LENGTH, cache=cache)
    assert isinstance(maxp, PassageReranker) and maxp.stride == 40
    assert maxp.model_id == str(
        RerankerSpec.parse(f"{cosine_reranker_dir}?passages=maxp&stride=40")
    )
    assert "passages=maxp" in maxp.cache_identity
    assert maxp.name == f"ce(cosine-head,len={MAX_LENGTH},maxp,stride=40)"
    short = Document("s", "Plants turn sunlight into sugar.", title="Leaves")
    first, _ = plain.score("how do plants make food", [short])
    again, scored = maxp.score("how do plants make food", [short])
    assert scored == 0  # one window: the very pair FirstP scored, from the cache
    assert again[0].score == first[0].score
    assert maxp.count_tokens("q", ["a b c"]) == plain.count_tokens("q", ["a b c"])


def test_maxp_finds_the_answer_past_the_window_and_ranks_the_document_higher(
    cosine_reranker_dir: Path, demo_collection: Collection
) -> None:
    doc_id = "hc-0190"  # a 1,000-word payroll year-end guide; the P60 deadline sits at ~80%
    doc = demo_collection.documents[doc_id]
    cache = PairScoreCache(None)
    plain = load_reranker(str(cosine_reranker_dir), MAX_LENGTH, cache=cache)
    maxp = load_reranker(f"{cosine_reranker_dir}?passages=maxp", MAX_LENGTH, cache=cache)
    pool = BM25Retriever(demo_collection).search(QUERY, 10)
    if doc_id not in [r.doc_id for r in pool]:
        pool = [*pool[:9], ScoredDoc(doc_id, 10, 0.0)]
    first = StageResult("bm25", "first_stage", pool, 0.0)
    firstp_stage, firstp = rerank(plain, QUERY, first, demo_collection.documents, k=10)
    maxp_stage, info = rerank(maxp, QUERY, first, demo_collection.documents, k=10)
    assert info.status == "ok", info.message
    assert maxp_stage.rank_of(doc_id) < firstp_stage.rank_of(doc_id)
    # FirstP cut the long document off; MaxP read all of it, so nothing is marked truncated.
    assert next(p for p in firstp.pairs if p.doc_id == doc_id).truncated is True
    assert next(p for p in info.pairs if p.doc_id == doc_id).truncated is False
    assert maxp.window_end(QUERY, doc.full_text) == len(doc.full_text)

    finding = best_passage(plain, QUERY, doc, {p.doc_id: p.score for p in firstp.pairs})
    assert finding.long and finding.best is not None
    fact = doc.text.index(FACT)
    assert finding.best.char_start <= fact < finding.best.char_end
    assert finding.where == "beyond the window"
    assert finding.maxp_score is not None and finding.firstp_score is not None
    assert finding.maxp_score > finding.firstp_score
    assert finding.maxp_rank is not None and finding.firstp_rank is not None
    assert finding.maxp_rank < finding.firstp_rank
    assert finding.firstp_rank == firstp_stage.rank_of(doc_id)
    # The wrapper remembers the window that won, and it is the same one.
    assert maxp.best_window(QUERY, doc.text, doc.title) == finding.best
    # Through the wrapper, the finding is the same (its model scores the windows).
    assert best_passage(maxp, QUERY, doc).best == finding.best


def test_an_http_reranker_has_no_passages_to_find() -> None:
    with pytest.raises(ValueError, match="in-process backends only"):
        RerankerSpec.parse("tei:http://127.0.0.1:9?passages=maxp")
