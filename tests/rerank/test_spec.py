"""Reranker specs: the backend is what the spec says, and a bad spec is refused with the forms."""

from __future__ import annotations

import pytest

from rankshift.rerank.spec import BACKENDS, RerankerSpec, display_name


@pytest.mark.parametrize(
    ("text", "backend", "target"),
    [
        ("cross-encoder/ms-marco-MiniLM-L-6-v2", "torch", "cross-encoder/ms-marco-MiniLM-L-6-v2"),
        ("/models/my-reranker", "torch", "/models/my-reranker"),
        ("bf16:/models/my-reranker", "bf16", "/models/my-reranker"),
        ("openvino-int8:BAAI/bge-reranker-base", "openvino-int8", "BAAI/bge-reranker-base"),
        ("tei:http://127.0.0.1:8080", "tei", "http://127.0.0.1:8080"),
        ("cohere:https://api.cohere.com?model=rerank-v3.5", "cohere", "https://api.cohere.com"),
    ],
)
def test_the_prefix_names_the_backend_and_round_trips(text: str, backend: str, target: str) -> None:
    spec = RerankerSpec.parse(text)
    assert (spec.backend, spec.target) == (backend, target)
    assert str(spec) == text
    assert RerankerSpec.parse(str(spec)) == spec


def test_a_model_name_that_mentions_a_backend_is_not_sniffed() -> None:
    # "onnx" inside a Hub id is part of the name, not a backend choice.
    spec = RerankerSpec.parse("someone/reranker-onnx-int8")
    assert spec.backend == "torch"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cohere:https://api.cohere.com", "?model=NAME"),
        ("tei:127.0.0.1:8080", "base URL"),
        ("tei:http://h:1?model=x", "takes no model"),
        ("my-model?colour=red", "unknown reranker option 'colour'"),
        ("my-model?timeout=5", "HTTP rerankers only"),
        ("tei:http://h:1?timeout=-1", "positive number"),
        ("tei:http://h:1?concurrency=lots", "whole number"),
        ("bf16:", "names no model"),
        ("  ", "empty reranker spec"),
    ],
)
def test_bad_specs_are_refused_with_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=None) as e:
        RerankerSpec.parse(text)
    assert says in str(e.value)


def test_options_and_key_variables() -> None:
    spec = RerankerSpec.parse(
        "voyage:https://api.voyageai.com?model=rerank-2&timeout=5&concurrency=2"
    )
    assert spec.option("model") == "rerank-2" and spec.option("timeout") == "5"
    assert spec.key_env == "VOYAGE_API_KEY"
    assert RerankerSpec.parse("cohere:https://x.io?model=m&key_env=MY_KEY").key_env == "MY_KEY"
    assert RerankerSpec.parse("m").key_env is None
    assert RerankerSpec.parse("m?label=1").label == 1


def test_with_backend_and_display_names() -> None:
    spec = RerankerSpec.parse("/models/demo-reranker")
    assert str(spec.with_backend("bf16")) == "bf16:/models/demo-reranker"
    assert display_name("bf16:/models/demo-reranker") == "bf16:demo-reranker"
    assert display_name("/models/demo-reranker") == "demo-reranker"
    assert display_name("cohere:https://api.cohere.com?model=rerank-v3.5") == (
        "cohere:rerank-v3.5@api.cohere.com"
    )
    with pytest.raises(ValueError, match="HTTP reranker"):
        RerankerSpec.parse("tei:http://h:1").with_backend("bf16")
    assert set(BACKENDS) >= {"torch", "bf16", "onnx", "onnx-int8", "openvino", "openvino-int8"}
