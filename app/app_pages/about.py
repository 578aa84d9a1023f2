"""About & help: what each panel shows, how to point the app at your data, and its limits."""

from __future__ import annotations

import streamlit as st

from rankshift import __version__
from rankshift.config import DEFAULT_BI_ENCODER, DEFAULT_RERANKER

st.title("About rankshift", anchor=False)
st.caption(f"rankshift {__version__} · an open-source workbench for auditing rerankers")

st.markdown(
    """
rankshift shows what a **cross-encoder reranker** did to the results of a **first stage**
(BM25, a bi-encoder over FAISS, or a hybrid of the two): which documents it moved, which it
pushed out of the top-N, which it pulled in, and whether its scores carry any signal.
"""
)

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Reading the Inspect page", anchor=False)
    st.markdown(
        """
- **Rankings**: one column per first stage and one for the reranked list. The columns named
  after the other lists give a document's rank there (empty: not in that list's top-K).
  The *shift* of a reranked row compares it with the reranker's input: **▲3** moved up three
  places, **▼12** down twelve, **new** entered the top-N from below the cut.
- **Document**: select a row (or pick from the list) to read the whole text. Query terms are
  highlighted; the part beyond the cross-encoder's token window is marked
  *not seen by the reranker*.
- **What the reranker changed**: a slope chart from first-stage rank to reranked rank, and
  the documents **dropped** from the top-N (with their cross-encoder score and how far it fell
  below the cut-off) and **promoted** into it.
- **Scores**: each stage's score distribution over the K candidates, the cross-encoder's raw
  scores and probabilities, and first-stage score against cross-encoder score. A warning
  appears when the reranker's scores are flat or its order barely differs from the first
  stage's (Kendall's τ above 0.9).
- **Latency**: retrieval, reranking, total and per-pair time of this query.
"""
    )
with right:
    st.subheader("Settings and cost", anchor=False)
    st.markdown(
        f"""
- **K** is how many candidates the cross-encoder scores (50 by default). Under K, the sidebar
  shows what a new query costs: an estimate from `make bench` until the first query, then the
  rate measured on this machine for the chosen model. On a 2-core CPU the default backend
  (openvino-auto) scores about 190 pairs per second at 256 tokens, so K = 50 takes about 0.3 s.
  Pair scores are cached on disk: a repeated query, or the same query with a different N, is
  instant.
- **N** is the cut the audit measures: *dropped* and *promoted* are relative to the top-N.
- **max_length** is the cross-encoder's window in tokens (query + title + text). Longer
  windows see more of each document and cost proportionally more.
- **Blend** mixes the first stage back into the reranked order:
  (1 − blend) × z(reranker score) + blend × z(first-stage score) over the K candidates.
  0 (the default) shows the reranker alone, which is what an audit of the reranker needs; a
  model trained here records the blend that did best on its held-out queries.
- Defaults: bi-encoder `{DEFAULT_BI_ENCODER}`, cross-encoder `{DEFAULT_RERANKER}`. Both
  boxes accept any model id or a local model folder. A reranker that cannot load leaves the
  lists in first-stage order under a warning banner.
"""
    )
    st.subheader("Your own data", anchor=False)
    st.markdown(
        """
- A **BEIR folder** (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`) or a single
  **JSONL/CSV/TSV** corpus file, by path or by upload. Every line is validated; a bad file is
  rejected with its line number and the reason.
- Environment: `RANKSHIFT_COLLECTION` (default collection path), `RANKSHIFT_RERANKER`
  (default cross-encoder), `RANKSHIFT_CACHE` (indexes, pair scores, trained models),
  `RANKSHIFT_JUDGMENTS` (the judgments database), and the usual `HF_HUB_CACHE` /
  `HF_HUB_OFFLINE` for models.
"""
    )
    st.subheader("Safety", anchor=False)
    st.markdown(
        """
Document text is treated as untrusted: it is shown as text, never as HTML. Tables render
cells as text, and the document view escapes every markdown and HTML character before
highlighting, so a document containing `<script>` shows those characters literally.
"""
    )
