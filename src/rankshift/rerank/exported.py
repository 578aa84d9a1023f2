"""The same cross-encoder exported once and run by ONNX Runtime or OpenVINO, fp32 or int8.

The ``onnx``, ``onnx-int8``, ``openvino`` and ``openvino-int8`` backends of a reranker spec (see
:mod:`rankshift.rerank.spec`). The sentence-transformers CrossEncoder is loaded as for the
``torch`` backend (tokenizer, label choice, revision, token counts and reading windows are the
same), then its whole module stack -- the transformer and whatever head follows, rankshift's own
heads included -- is exported to ONNX with dynamic batch and sequence axes:

- ``onnx``: that export, with ONNX Runtime's transformer fusions (attention, layer norms), run
  by ONNX Runtime in fp32;
- ``onnx-int8``: the same graph with int8 weights (``onnxruntime.quantization.quantize_dynamic``;
  activations are quantized on the fly);
- ``openvino``: the export converted to OpenVINO IR, compiled for the CPU with fp32 inference
  precision (the plugin's default on CPUs with AMX would be bf16);
- ``openvino-int8``: that IR quantized by NNCF, int8 weights and activations calibrated on real
  (query, document) pairs of the demo collection's training queries; without the demo folder,
  int8 weights only (``nncf.compress_weights``, no data needed). :attr:`quantization` says
  which one ran.

sentence-transformers' own ``backend="onnx"``/``"openvino"`` needs optimum, which cannot be
installed beside transformers 5, so the export is done here with torch, onnxruntime, openvino
and nncf alone (``pip install 'rankshift[backends]'``).

An export is kept under ``<cache>/exports/<model>-<backend>-<hash>``; the hash covers the spec's
target, the model's revision, the backend and :data:`EXPORT_FORMAT`, so it happens once per
model revision (an int8 backend quantizes the fp32 export of the same runtime when that exists).
It is written into a temporary folder beside it and renamed into place, so two processes
exporting at once never read a half-written model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rankshift._lazy import require
from rankshift.config import DEFAULT_MAX_LENGTH, DEMO_DIR, cache_dir
from rankshift.models import short_name
from rankshift.rerank.cache import PairScoreCache
from rankshift.rerank.cross_encoder import CrossEncoderReranker
from rankshift.rerank.spec import RerankerSpec

__all__ = [
    "EXPORT_BACKENDS",
    "EXPORT_FORMAT",
    "ExportedReranker",
    "calibration_pairs",
    "export_dir",
]

EXPORT_FORMAT = 1
"""Version of what an export folder holds; raising it makes every model export again."""

EXPORT_BACKENDS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnx", "onnxruntime"),
    "onnx-int8": ("onnx", "onnxruntime"),
    "openvino": ("openvino",),
    "openvino-int8": ("openvino", "nncf"),
    "openvino-auto": ("openvino",),
}
"""The backends this module runs, and the packages each needs."""

INSTALL_HINT = "pip install 'rankshift[backends]'"
MANIFEST = "export.json"
"""Written last into an export folder: its presence means the export is complete."""
CALIBRATION_PAIRS = 64
"""(query, document) pairs NNCF calibrates activation ranges on (``openvino-int8``)."""
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OPSET = 17
_LARGE_MODEL_BYTES = 1_500_000_000
"""Above this many bytes of weights an ONNX file keeps them in a side file (protobuf's 2 GB cap)."""
_EXAMPLE_PAIRS = [
    ("an example query", "a short document"),
    ("a longer example query about exports", "a longer document, so that this batch is padded"),
]
"""Traced to export: two pairs of different lengths, so the graph handles padding."""


def require_backend(backend: str) -> dict[str, ModuleType]:
    """Import the packages ``backend`` runs on, or raise ``ImportError`` with the install hint."""
    modules = {}
    for name in EXPORT_BACKENDS[backend]:
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as e:
            raise ImportError(
                f"the {backend} reranker backend needs the Python package '{name}', which is not "
                f"installed: {INSTALL_HINT}"
            ) from e
    return modules


def export_dir(spec: RerankerSpec, revision: str) -> Path:
    """Where the export of ``spec``'s model at ``revision`` on ``spec.backend`` is kept."""
    key = json.dumps([spec.target, revision, spec.backend, EXPORT_FORMAT])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", short_name(spec.target)).strip("._") or "model"
    return cache_dir() / "exports" / f"{name[:60]}-{spec.backend}-{digest}"


def calibration_pairs(n: int = CALIBRATION_PAIRS) -> list[tuple[str, str]]:
    """About ``n`` real (query, document) pairs from the demo collection: its training queries
    (never the test queries the demo is evaluated on) with their top BM25 documents, four per
    query. Empty when the demo folder is not there."""
    if not (DEMO_DIR / "corpus.jsonl").is_file():
        return []
    from rankshift.corpus import load_collection
    from rankshift.retrievers.bm25 import BM25Retriever

    collection = load_collection(DEMO_DIR)
    queries = list((collection.queries_for("train") or collection.queries).values())
    chatty = logging.getLogger("bm25s")
    level = chatty.level
    chatty.setLevel(logging.INFO)  # bm25s sets DEBUG on its own logger
    try:
        retriever = BM25Retriever(collection)
    finally:
        chatty.setLevel(level)
    per_query = 4
    pairs: list[tuple[str, str]] = []
    for query in queries:
        for hit in retriever.search(query.text, per_query):
            pairs.append((query.text, collection.documents[hit.doc_id].full_text))
        if len(pairs) >= n:
            break
    return pairs[:n]


class ExportedReranker(CrossEncoderReranker):
    """A cross-encoder run by ONNX Runtime or OpenVINO in this process (see the module docstring).

    Constructed as :class:`~rankshift.rerank.cross_encoder.CrossEncoderReranker` is, from a spec
    on one of :data:`EXPORT_BACKENDS`. The first load of a model revision exports it (seconds to
    a minute); later loads read the export. Raises ``ImportError`` with the install hint when a
    backend's package is missing.

    Args:
        openvino_hint: the OpenVINO CPU plugin's inference precision (``"f32"``, what the
            backend's name promises; ``"bf16"``; or None for the plugin's own default, bf16 on
            CPUs with AMX). A hint other than f32 changes scores slightly, so it is part of
            :attr:`cache_identity`.
    """

    has_gradients = False

    def __init__(
        self,
        model_id: str | RerankerSpec,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 16,
        device: str | None = None,
        cache: PairScoreCache | None = None,
        *,
        openvino_hint: str | None = "f32",
    ) -> None:
        spec = RerankerSpec.parse(model_id)
        if spec.backend not in EXPORT_BACKENDS:
            raise ValueError(f"{spec} is not on an exported backend ({', '.join(EXPORT_BACKENDS)})")
        self._modules = require_backend(spec.backend)
        super().__init__(spec, max_length, batch_size, device, cache)
        self.openvino_hint = openvino_hint if spec.backend.startswith("openvino") else None
        if spec.backend == "openvino-auto":
            self.openvino_hint = None  # the plugin's own choice: bf16 where the CPU has AMX
        self.precision: str | None = None
        """The precision OpenVINO runs at (``f32``, ``bf16``...; None for ONNX Runtime)."""
        self.export_dir = export_dir(self.spec, self.revision)
        self.loaded_from_cache = (self.export_dir / MANIFEST).is_file()
        """True when the export was read from the cache, False when this load made it."""
        if not self.loaded_from_cache:
            self._export()
        manifest = json.loads((self.export_dir / MANIFEST).read_text(encoding="utf-8"))
        self.quantization: str = manifest["quantization"]
        """How the weights were reduced: ``none (fp32)``, or which int8 method ran."""
        self.export_seconds: float = float(manifest["seconds"])
        """How long the export took when it was made (not this load's time when cached)."""
        self.input_names: list[str] = list(manifest["inputs"])
        self._run = self._compile(self.export_dir / manifest["file"])

    @property
    def cache_identity(self) -> str:
        if self.spec.backend == "openvino-auto":
            # The precision the plugin chose on this CPU decides the scores.
            return f"{self.model_id}#precision={self.precision}"
        if not self.spec.backend.startswith("openvino") or self.openvino_hint == "f32":
            return self.model_id
        return f"{self.model_id}#hint={self.openvino_hint or 'default'}"

    # -- export -------------------------------------------------------------------------------

    def _export(self) -> None:
        parent = self.export_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.export_dir.name}.", dir=parent))
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache's exports from others
        try:
            start = time.perf_counter()
            backend = self.spec.backend
            source = self._fp32_export()
            if source is None:
                names, large = self._export_onnx(tmp / "raw" / "model.onnx")
            else:
                names, large = list(source["inputs"]), bool(source.get("large", False))
            if backend.startswith("onnx"):
                file, quantization = self._finish_onnx(tmp, large, source)
            else:
                file, quantization = self._finish_openvino(tmp, source)
            manifest = {
                "format": EXPORT_FORMAT,
                "backend": backend,
                "target": self.spec.target,
                "revision": self.revision,
                "file": file,
                "inputs": names,
                "large": large,
                "quantized_from": source["path"] if source else None,
                "quantization": quantization,
                "seconds": round(time.perf_counter() - start, 2),
                "versions": self._versions(),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            self._publish(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _fp32_export(self) -> dict[str, Any] | None:
        """The manifest of this model's fp32 export on the same runtime (``onnx`` for
        ``onnx-int8``, ``openvino`` for ``openvino-int8``), with its file's ``path``, when it
        exists: the int8 export then quantizes it instead of exporting again."""
        base = {"onnx-int8": "onnx", "openvino-int8": "openvino", "openvino-auto": "openvino"}.get(
            self.spec.backend
        )
        if base is None:
            return None
        folder = export_dir(self.spec.with_backend(base), self.revision)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path = folder / str(manifest.get("file", ""))
        return {**manifest, "path": str(path)} if path.is_file() else None

    def _publish(self, tmp: Path) -> None:
        """Rename the finished export into place; another process that finished first wins."""
        final = self.export_dir
        if final.exists() and not (final / MANIFEST).is_file():
            # Only a complete folder is ever renamed into place: this one was left by hand.
            shutil.rmtree(final, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            if not (final / MANIFEST).is_file():
                raise

    def _export_onnx(self, path: Path) -> tuple[list[str], bool]:
        """Export the CrossEncoder's module stack to ONNX; returns its input names and whether
        its weights are kept in a side file."""
        torch = require("torch")
        path.parent.mkdir(parents=True, exist_ok=True)
        model = self.model
        model.to("cpu")
        model.eval()
        features = model.preprocess(_EXAMPLE_PAIRS)
        names = [k for k in _INPUTS if k in features]
        args = tuple(features[k] for k in names)
        large = sum(p.numel() * p.element_size() for p in model.parameters()) > _LARGE_MODEL_BYTES
        module = _score_module(model, names)
        hf_model = getattr(model, "model", None)
        attention = getattr(getattr(hf_model, "config", None), "_attn_implementation", None)
        # The eager attention graph is the one ONNX Runtime fuses into its Attention kernel and
        # OpenVINO runs fastest (measured); the export is numerically the same.
        switch = attention not in (None, "eager") and hasattr(hf_model, "set_attn_implementation")
        if switch:
            hf_model.set_attn_implementation("eager")
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                # The TorchScript exporter: the torch.export one needs onnxscript, which the
                # backends extra does not install.
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    dynamo=False,
                    input_names=names,
                    output_names=["scores"],
                    dynamic_axes={
                        **{n: {0: "batch", 1: "sequence"} for n in names},
                        "scores": {0: "batch"},
                    },
                    opset_version=_OPSET,
                )
        finally:
            if switch:
                hf_model.set_attn_implementation(attention)
        return names, large

    def _finish_onnx(
        self, tmp: Path, large: bool, source: dict[str, Any] | None
    ) -> tuple[str, str]:
        onnx = self._modules["onnx"]
        raw = tmp / "raw" / "model.onnx"
        fused = tmp / "fused" / "model.onnx"
        if source is not None:
            fused = Path(source["path"])
        else:
            fused.parent.mkdir()
            try:
                _fuse_transformer(raw, fused, self.model, large)
            except Exception:  # an architecture ONNX Runtime's fusions do not know runs unfused
                fused = raw
        if self.spec.backend == "onnx":
            _move_onnx(fused, tmp)
            shutil.rmtree(tmp / "raw", ignore_errors=True)
            shutil.rmtree(tmp / "fused", ignore_errors=True)
            return "model.onnx", "none (fp32)"
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quiet = _DropMessage("Please consider to run pre-processing before quantization")
        logging.getLogger().addFilter(quiet)  # onnxruntime logs it on the root logger
        try:
            quantize_dynamic(
                str(fused),
                str(tmp / "model.onnx"),
                weight_type=QuantType.QInt8,
                # Per output channel: on the demo reranker, Kendall's tau against fp32 went from
                # 0.84 (per tensor) to 0.94 at the same speed.
                per_channel=True,
                use_external_data_format=large,
                # Fused ops come from the com.microsoft domain, which shape inference cannot type.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        shutil.rmtree(tmp / "raw", ignore_errors=True)
        shutil.rmtree(tmp / "fused", ignore_errors=True)
        return "model.onnx", (
            "int8 weights per channel, int8 activations quantized per batch (onnxruntime "
            "quantize_dynamic)"
        )

    def _finish_openvino(self, tmp: Path, source: dict[str, Any] | None) -> tuple[str, str]:
        ov = self._modules["openvino"]
        if source is not None:
            model = ov.Core().read_model(source["path"])
        else:
            model = ov.convert_model(str(tmp / "raw" / "model.onnx"))
        quantization = "none (fp32)"
        if self.spec.backend == "openvino-int8":
            model, quantization = self._quantize_openvino(model)
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        del model
        shutil.rmtree(tmp / "raw", ignore_errors=True)
        return "model.xml", quantization

    def _quantize_openvino(self, model: Any) -> tuple[Any, str]:
        """NNCF post-training quantization on demo pairs, else int8 weight compression."""
        nncf = self._modules["nncf"]
        pairs = calibration_pairs()
        level = logging.getLogger("nncf").level
        logging.getLogger("nncf").setLevel(logging.WARNING)
        try:
            if not pairs:
                return (
                    nncf.compress_weights(model),
                    "int8 weights only (nncf.compress_weights: no demo data to calibrate on)",
                )
            batches = [
                self._feed(pairs[i : i + 8], self._input_names(model))
                for i in range(0, len(pairs), 8)
            ]
            quantized = nncf.quantize(
                model,
                nncf.Dataset(batches),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(batches),
            )
        finally:
            logging.getLogger("nncf").setLevel(level)
        return quantized, (
            f"int8 weights and activations (nncf.quantize, calibrated on {len(pairs)} demo "
            "training pairs)"
        )

    @staticmethod
    def _input_names(model: Any) -> list[str]:
        return [port.get_any_name() for port in model.inputs]

    def _versions(self) -> dict[str, str]:
        torch = require("torch")
        versions = {"torch": torch.__version__}
        for name, module in self._modules.items():
            versions[name] = str(getattr(module, "__version__", "?"))
        return versions

    # -- inference ----------------------------------------------------------------------------

    def _compile(self, path: Path) -> Callable[[dict[str, Any]], Any]:
        """Load the export; returns a function from a feed dict to the scores array."""
        torch = require("torch")
        threads = max(1, int(torch.get_num_threads()))
        if self.spec.backend.startswith("onnx"):
            ort = self._modules["onnxruntime"]
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            self.input_names = [i.name for i in session.get_inputs()]
            return lambda feed: session.run(["scores"], feed)[0]
        ov = self._modules["openvino"]
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads}
        if self.openvino_hint:
            config["INFERENCE_PRECISION_HINT"] = self.openvino_hint
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = str(getattr(hint, "get_type_name", lambda: hint)())
        self.input_names = [port.get_any_name() for port in compiled.inputs]
        request = compiled.create_infer_request()
        output = compiled.output(0)
        # The request reuses its output buffer: copy before the next call overwrites it.
        return lambda feed: request.infer(feed)[output].copy()

    def _feed(self, pairs: list[tuple[str, str]], names: list[str]) -> dict[str, Any]:
        """The pairs tokenised as the torch backend does (padded to the longest, truncated at
        ``max_length``), as numpy arrays keyed by the export's input names."""
        features = self.model.preprocess(pairs)
        return {n: features[n].numpy() for n in names}

    def _logits(self, pairs: list[tuple[str, str]]) -> Any:
        np = require("numpy")
        out = np.asarray(self._run(self._feed(pairs, self.input_names)), dtype=np.float32)
        if self.num_labels == 1:
            return out.reshape(len(pairs))
        return out.reshape(len(pairs), -1)


class _DropMessage(logging.Filter):
    """Drops log records that start with one message (a library's advice to its own users)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _move_onnx(source: Path, folder: Path) -> None:
    """Move an ONNX file and any side files of its weights (a large model) into ``folder``."""
    for path in source.parent.iterdir():
        path.rename(folder / path.name)


def _score_module(model: Any, names: list[str]) -> Any:
    """A torch module ``forward(*inputs) -> scores`` over a CrossEncoder's module stack."""
    torch = require("torch")

    class ScoreModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cross_encoder = model

        def forward(self, *inputs: Any) -> Any:
            features = dict(zip(names, inputs, strict=True))
            return self.cross_encoder(features)["scores"]

    return ScoreModule().eval()


def _fuse_transformer(source: Path, target: Path, model: Any, large: bool) -> None:
    """ONNX Runtime's BERT-family fusions (attention, embedding and skip layer norms, GELU)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = getattr(getattr(model, "model", None), "config", None)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    fused = optimize_model(
        str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    )
    fused.save_model_to_file(str(target), use_external_data_format=large)
