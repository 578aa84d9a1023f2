"""The exported backends (onnx, onnx-int8, openvino, openvino-int8) against the torch reranker.

The models are untrained (``tiny_cross_encoder_dir`` and two folders built here), so these are
plumbing checks: the exported graph computes what the torch model computes, for every head
rankshift saves, and an export is made once and then read from the cache. Each backend exports
once per model (module-scoped); the whole file takes about 40 s on 2 cores.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from rankshift.corpus import Collection
from rankshift.rerank import CrossEncoderReranker, PairScoreCache, try_load_reranker
from rankshift.rerank.exported import ExportedReranker
from rankshift.rerank.loading import load_reranker

MAX_LENGTH = 64
FP32_TOLERANCE = 1e-4
"""Measured: the fp32 exports differ from torch by at most 6e-6 in absolute value on these models
(summation order in fused kernels); 1e-4 leaves more than 10x margin and is still far below
any difference that would reorder documents."""
INT8_MIN_TAU = 0.6
"""Kendall's tau of int8 scores against fp32 over 30 documents. Measured on the untrained model:
0.80-0.92, and 0.93-0.95 on the trained demo reranker. Scores that had lost their link to the
documents (a wrong input, a shuffled batch) give tau around 0 with a standard deviation of 0.13
at n=30, so 0.6 is more than four standard deviations above that while allowing for the
untrained model's nearly flat scores (int8 rounding is as large as their spread)."""


@pytest.fixture(scope="module")
def query_and_texts(demo_collection: Collection) -> tuple[str, list[str]]:
    """One demo test query and 30 demo documents (corpus order)."""
    query = next(iter(demo_collection.queries_for("test").values())).text
    texts = [d.full_text for d in list(demo_collection.documents.values())[:30]]
    return query, texts


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RANKSHIFT_CACHE for module-scoped loads: the same folder the per-test autouse fixture
    sets, so a test's second load finds the module's export."""
    path = tmp_path_factory.getbasetemp() / "rankshift-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RANKSHIFT_CACHE", str(path))
        yield path


class Loaded:
    """Rerankers loaded once per module, by spec."""

    def __init__(self) -> None:
        self.rerankers: dict[str, CrossEncoderReranker] = {}

    def get(self, spec: str) -> CrossEncoderReranker:
        if spec not in self.rerankers:
            reranker = load_reranker(spec, MAX_LENGTH)
            assert isinstance(reranker, CrossEncoderReranker)
            self.rerankers[spec] = reranker
        return self.rerankers[spec]


@pytest.fixture(scope="module")
def loaded(module_cache: Path) -> Loaded:
    return Loaded()


def scores(reranker: CrossEncoderReranker, query: str, texts: list[str]) -> np.ndarray:
    reranker.cache = PairScoreCache(None)
    found, n_scored = reranker.score_texts(query, texts)
    assert n_scored == len(set(texts))
    return np.array([s for s, _, _ in found])


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fp32_exports_score_as_torch(
    backend: str,
    tiny_cross_encoder_dir: Path,
    loaded: Loaded,
    query_and_texts: tuple[str, list[str]],
) -> None:
    query, texts = query_and_texts
    torch_reranker = loaded.get(str(tiny_cross_encoder_dir))
    exported = loaded.get(f"{backend}:{tiny_cross_encoder_dir}")
    assert isinstance(exported, ExportedReranker)
    assert exported.quantization == "none (fp32)"
    assert not exported.has_gradients
    expected = scores(torch_reranker, query, texts)
    got = scores(exported, query, texts)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FP32_TOLERANCE)
    # What the user sees besides the score comes from the same tokenizer: token counts,
    # truncation flags, the reading window.
    assert exported.count_tokens(query, texts) == torch_reranker.count_tokens(query, texts)
    assert exported.window_end(query, texts[0]) == torch_reranker.window_end(query, texts[0])
    assert exported.name == f"ce({backend}:{tiny_cross_encoder_dir.name},len={MAX_LENGTH})"


@pytest.mark.parametrize(
    ("backend", "method"), [("onnx-int8", "quantize_dynamic"), ("openvino-int8", "nncf.quantize")]
)
def test_int8_exports_rank_as_torch(
    backend: str,
    method: str,
    tiny_cross_encoder_dir: Path,
    loaded: Loaded,
    query_and_texts: tuple[str, list[str]],
) -> None:
    query, texts = query_and_texts
    expected = scores(loaded.get(str(tiny_cross_encoder_dir)), query, texts)
    exported = loaded.get(f"{backend}:{tiny_cross_encoder_dir}")
    assert isinstance(exported, ExportedReranker)
    # The demo folder is there, so openvino-int8 calibrates on real demo pairs.
    assert method in exported.quantization
    got = scores(exported, query, texts)
    tau = kendalltau(got, expected).statistic
    assert tau >= INT8_MIN_TAU, f"{backend}: Kendall's tau {tau:.3f} against torch fp32"


def test_openvino_auto_says_which_precision_it_ran_at(
    tiny_cross_encoder_dir: Path, loaded: Loaded, query_and_texts: tuple[str, list[str]]
) -> None:
    query, texts = query_and_texts
    auto = loaded.get(f"openvino-auto:{tiny_cross_encoder_dir}")
    assert isinstance(auto, ExportedReranker)
    fp32 = loaded.get(f"openvino:{tiny_cross_encoder_dir}")
    assert fp32.precision == "f32" and auto.precision in ("f32", "bf16", "f16")
    # The precision the plugin chose keys the pair cache: bf16 scores never pose as f32 ones.
    assert auto.cache_identity.endswith(f"#precision={auto.precision}")
    assert auto.cache_identity != fp32.cache_identity
    tau = kendalltau(scores(auto, query, texts), scores(fp32, query, texts)).statistic
    assert tau >= INT8_MIN_TAU


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino", "openvino-int8"])
def test_second_load_reads_the_export(
    backend: str,
    tiny_cross_encoder_dir: Path,
    loaded: Loaded,
    query_and_texts: tuple[str, list[str]],
) -> None:
    spec = f"{backend}:{tiny_cross_encoder_dir}"
    first = loaded.get(spec)
    assert isinstance(first, ExportedReranker)
    files = {p: p.stat().st_mtime_ns for p in first.export_dir.iterdir()}
    again = load_reranker(spec, MAX_LENGTH)
    assert isinstance(again, ExportedReranker)
    assert again.loaded_from_cache
    assert again.export_dir == first.export_dir
    assert again.quantization == first.quantization
    assert {p: p.stat().st_mtime_ns for p in again.export_dir.iterdir()} == files
    # No temporary export folder is left beside it.
    assert [p.name for p in first.export_dir.parent.iterdir() if p.name.startswith(".")] == []
    query, texts = query_and_texts
    np.testing.assert_array_equal(scores(again, query, texts[:5]), scores(first, query, texts[:5]))


@pytest.fixture(scope="module")
def cosine_head_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reranker folder with rankshift's SegmentCosine head, as ``rankshift train --head cosine``
    builds it from the bi-encoder (untrained: it ranks as the bi-encoder does)."""
    from huggingface_hub import snapshot_download
    from support import BI_ENCODER

    from rankshift.training.config import TrainConfig
    from rankshift.training.models import load_base

    source = snapshot_download(BI_ENCODER, local_files_only=True)
    model = load_base(TrainConfig(base_model=source, head="cosine", max_length=MAX_LENGTH))
    out = tmp_path_factory.mktemp("models") / "cosine-head"
    model.save(str(out))
    assert "rankshift.rerank.heads.SegmentCosine" in (out / "modules.json").read_text()
    return out


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_a_rankshift_head_exports_too(
    backend: str, cosine_head_dir: Path, loaded: Loaded, query_and_texts: tuple[str, list[str]]
) -> None:
    query, texts = query_and_texts
    expected = scores(loaded.get(str(cosine_head_dir)), query, texts)
    got = scores(loaded.get(f"{backend}:{cosine_head_dir}"), query, texts)
    # Cosine times a scale of 20: scores span several units, so the tolerance is relative.
    np.testing.assert_allclose(got, expected, rtol=FP32_TOLERANCE, atol=FP32_TOLERANCE)


@pytest.fixture(scope="module")
def two_label_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained cross-encoder with two output labels (which one is relevant: ``label=``)."""
    import torch
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder
    from support import BI_ENCODER

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models") / "two-labels"
    CrossEncoder(snapshot_download(BI_ENCODER, local_files_only=True), num_labels=2).save(str(out))
    return out


def test_a_model_with_two_labels_scores_the_chosen_label(
    two_label_dir: Path, loaded: Loaded, query_and_texts: tuple[str, list[str]]
) -> None:
    query, texts = query_and_texts
    expected = scores(loaded.get(f"{two_label_dir}?label=1"), query, texts)
    got = scores(loaded.get(f"onnx:{two_label_dir}?label=1"), query, texts)
    np.testing.assert_allclose(got, expected, rtol=0, atol=FP32_TOLERANCE)


def test_a_missing_backend_package_is_a_handled_failure(
    tiny_cross_encoder_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module set to None in sys.modules is one Python cannot import: as if not installed.
    monkeypatch.setitem(sys.modules, "nncf", None)
    reranker, message = try_load_reranker(f"openvino-int8:{tiny_cross_encoder_dir}", MAX_LENGTH)
    assert reranker is None
    assert message is not None
    assert "nncf" in message
    assert "pip install 'rankshift[backends]'" in message
