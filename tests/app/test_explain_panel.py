"""AppTest: the Inspect page's "Why this score?" area under the open document: the cost before
anything runs, then the heat strip, the sentence table, the best passage and the words."""

from __future__ import annotations

from inspector_fixture import QUERY, SCRIPT_TEXT, plain

from rankshift.explain import split_sentences
from rankshift.present.explain import STRIP_CLASS


def _open(make_app, reranker, doc_id: str):
    at = make_app(reranker).run()
    at.text_input(key="inspect_query").set_value(QUERY).run()
    at.selectbox(key="inspect_doc").set_value(doc_id).run()
    assert not at.exception, at.exception
    return at


def _strips(at) -> list[str]:
    return [h.proto.body for h in at.get("html") if f'class="{STRIP_CLASS}"' in h.proto.body]


def test_cost_first_then_heat_strip_table_and_words(make_app, tiny_cross_encoder_dir) -> None:
    at = _open(make_app, tiny_cross_encoder_dir, "d05")
    text = f"Vitamin D and bone density. {SCRIPT_TEXT} more about vitamin D."
    n = len(split_sentences(text))
    cost = [plain(c.value) for c in at.caption if "pairs (2n + 1" in plain(c.value)]
    assert cost and cost[0].startswith(f"{n} sentences: {2 * n + 1} pairs")
    assert "about " in cost[0] and "measured" in cost[0]  # the query's own pair rate
    assert not _strips(at)  # nothing is scored before the button

    at.button(key="inspect_explain_run").click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "inspect_explain_run"]  # done: no button
    [strip] = _strips(at)
    assert "<script>" not in strip and "&lt;script&gt;" in strip  # the text is escaped
    assert strip.count(f'class="{STRIP_CLASS}-sentence"') == n
    assert any("removing it lowers the score" in h.proto.body for h in at.get("html"))
    [table] = [d.value for d in at.dataframe if "alone" in d.value.columns]
    assert table.columns.tolist() == ["rank", "sentence", "drop", "alone", "text"]
    assert table["rank"].tolist() == list(range(1, n + 1))
    drops = table["drop"].tolist()
    assert drops == sorted(drops, reverse=True)
    assert any(plain(c.value).startswith("Score ") for c in at.caption)

    # A rerun shows the kept result: no button, nothing scored again.
    at.run()
    assert len(_strips(at)) == 1 and not [b for b in at.button if b.key == "inspect_explain_run"]
    assert len(at.session_state["inspect_explain"]) == 1

    # Words: the torch model has gradients; the cost first, then both sides' top words.
    assert any("Integrated gradients: 2 × 20" in plain(c.value) for c in at.caption)
    at.button(key="inspect_explain_tokens").click().run()
    assert not at.exception, at.exception
    query_words, doc_words = [d.value for d in at.dataframe if "attribution" in d.value.columns]
    assert {w.lower() for w in query_words["word"]} <= set(QUERY.split())
    assert len(doc_words) > 0


def test_a_long_document_gets_its_best_passage(make_app, tiny_cross_encoder_dir) -> None:
    at = _open(make_app, tiny_cross_encoder_dir, "d08")
    cost = next(plain(c.value) for c in at.caption if "pairs (2n + 1" in plain(c.value))
    assert "past the token window" in cost
    at.button(key="inspect_explain_run").click().run()
    assert not at.exception, at.exception
    [strip] = _strips(at)
    assert "✂ window ends" in strip
    lines = [plain(i.value) for i in at.info if "Best passage" in plain(i.value)]
    assert lines and lines[0].startswith("Best passage: tokens ")
    assert "candidates" in lines[0]  # the rank it would get among this query's candidates
