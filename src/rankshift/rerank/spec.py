"""Which reranker to run, and how: one explicit spec string, never a guess from a model name.

A reranker spec is ``[backend:]target[?option=value&...]``:

- ``cross-encoder/ms-marco-MiniLM-L-6-v2`` or ``./my-reranker``: a model id or folder run in
  this process by sentence-transformers with torch (the ``torch`` backend);
- ``bf16:<id or folder>``, ``onnx:``, ``onnx-int8:``, ``openvino:``, ``openvino-int8:``,
  ``openvino-auto:``: the same
  model on another in-process backend (exported once, cached by the model's revision);
- ``tei:http://host:port``: a Hugging Face text-embeddings-inference server (``POST /rerank``);
- ``cohere:<base url>?model=NAME``: the Cohere v2 ``POST /v2/rerank`` API, which Jina, Infinity
  and vLLM also speak; ``voyage:`` and ``mixedbread:`` are its named variants.

The backend prefix is one of :data:`BACKENDS` or nothing; a model id is never inspected to pick
one. Options after ``?`` are listed in :data:`OPTIONS`. API keys are never part of a spec: an
HTTP backend reads its key from the environment variable named by ``key_env`` (defaults in
:data:`KEY_ENV`), so a spec can be printed, cached and written to a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

BACKENDS: dict[str, str] = {
    "torch": "sentence-transformers CrossEncoder in this process, fp32 weights (the default)",
    "bf16": "the same model in this process with bfloat16 weights (fast on CPUs with AMX or "
    "AVX512-BF16)",
    "onnx": "the model exported to ONNX and run by onnxruntime, fp32",
    "onnx-int8": "the ONNX export with int8 weights (onnxruntime dynamic quantization)",
    "openvino": "the model converted to OpenVINO IR and run by the OpenVINO CPU plugin",
    "openvino-int8": "the OpenVINO model with int8 weights and activations (NNCF quantization)",
    "openvino-auto": "the OpenVINO model at the CPU plugin's own precision: bf16 on CPUs with "
    "AMX or AVX512-BF16, f32 elsewhere (the precision it ran at keys the pair cache)",
    "tei": "a text-embeddings-inference server: tei:http://host:port",
    "cohere": "a Cohere v2 rerank API (also Jina, Infinity, vLLM): cohere:<base url>?model=NAME",
    "voyage": "Voyage AI's rerank API: voyage:<base url>?model=NAME",
    "mixedbread": "Mixedbread's rerank API: mixedbread:<base url>?model=NAME",
}
"""Registry of reranker backends: every ``--reranker`` help text and app selector reads it."""

LOCAL_BACKENDS = (
    "torch",
    "bf16",
    "onnx",
    "onnx-int8",
    "openvino",
    "openvino-int8",
    "openvino-auto",
)
REMOTE_BACKENDS = ("tei", "cohere", "voyage", "mixedbread")

KEY_ENV: dict[str, str] = {
    "tei": "TEI_API_KEY",
    "cohere": "COHERE_API_KEY",
    "voyage": "VOYAGE_API_KEY",
    "mixedbread": "MXBAI_API_KEY",
}
"""The environment variable an HTTP backend reads its API key from (``key_env=`` overrides)."""

OPTIONS: dict[str, str] = {
    "label": "which output of a model with several labels means 'relevant' (an index)",
    "model": "the model name a hosted API should use (cohere, voyage, mixedbread)",
    "timeout": "seconds to wait for one HTTP request (default 30)",
    "retries": "how often a request refused with 429/503 or failed is retried (default 3)",
    "concurrency": "HTTP requests in flight at once (default 4)",
    "batch": "most texts per HTTP request (default: the server's limit, else 32)",
    "truncate": "tei: let the server truncate long inputs (true, the default) or refuse them",
    "key_env": "the environment variable holding the API key",
    "passages": "firstp (the default: the model reads the start of a long document) or maxp "
    "(score overlapping windows of max_length tokens, keep the best; in-process models only)",
    "stride": "maxp: tokens between the starts of two windows (default half a window)",
}
"""Options a spec may carry after ``?``; anything else is refused with this list."""

_INT_OPTIONS = ("label", "retries", "concurrency", "batch", "stride")
_LOCAL_OPTIONS = ("label", "passages", "stride")
PASSAGE_MODES = ("firstp", "maxp")


@dataclass(frozen=True)
class RerankerSpec:
    """A parsed reranker spec (see the module docstring). ``str(spec)`` gives it back."""

    backend: str
    target: str
    """The model id or folder (in-process backends) or the base URL (HTTP backends)."""
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str | RerankerSpec) -> RerankerSpec:
        """Read a spec, raising ``ValueError`` with the accepted forms for a malformed one."""
        if isinstance(text, RerankerSpec):
            return text
        raw = text.strip()
        if not raw:
            raise ValueError("empty reranker spec: give a model id, a folder or a backend:target")
        backend, target = "torch", raw
        head, sep, rest = raw.partition(":")
        if sep and head in BACKENDS:
            backend, target = head, rest
        query = ""
        if "?" in target and not Path(target).expanduser().exists():
            target, query = target.split("?", 1)
        options = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key not in OPTIONS:
                raise ValueError(
                    f"unknown reranker option {key!r} in {raw!r}; options: {', '.join(OPTIONS)}"
                )
            if backend in LOCAL_BACKENDS and key not in _LOCAL_OPTIONS:
                raise ValueError(
                    f"option {key!r} applies to HTTP rerankers only; {backend} takes: "
                    + ", ".join(_LOCAL_OPTIONS)
                )
            if key in _INT_OPTIONS and not value.lstrip("-").isdigit():
                raise ValueError(f"reranker option {key} must be a whole number, got {value!r}")
            if key == "timeout":
                try:
                    seconds = float(value)
                except ValueError:
                    seconds = 0.0
                if not seconds > 0:
                    raise ValueError(f"timeout must be a positive number of seconds: {value!r}")
            options.append((key, value))
        spec = cls(backend, target.strip(), tuple(sorted(options)))
        spec._check(raw)
        return spec

    def _check(self, raw: str) -> None:
        if not self.target:
            raise ValueError(f"reranker spec {raw!r} names no model or URL after '{self.backend}:'")
        if self.remote:
            parts = urlsplit(self.target)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(
                    f"{self.backend}: needs a base URL such as http://127.0.0.1:8080, got "
                    f"{self.target!r}"
                )
            if self.backend != "tei" and not self.option("model"):
                raise ValueError(
                    f"{self.backend}: needs the model name the API should use: "
                    f"{self.backend}:{self.target}?model=NAME"
                )
            if self.backend == "tei" and self.option("model"):
                raise ValueError("tei: serves one model and takes no model= option")
        if self.remote and (self.option("passages") or self.option("stride")):
            raise ValueError(
                "passages= and stride= need the model's tokenizer: in-process backends only "
                f"({self.backend}: reports no tokens)"
            )
        if self.remote and self.option("label") is not None:
            raise ValueError(
                f"label= applies to in-process models; {self.backend}: scores one label"
            )
        mode = self.option("passages")
        if mode is not None and mode not in PASSAGE_MODES:
            raise ValueError(f"passages must be one of {', '.join(PASSAGE_MODES)}, got {mode!r}")
        if self.option("stride") is not None and int(self.option("stride") or 0) < 1:
            raise ValueError("stride must be 1 or more tokens")
        label = self.option("label")
        if label is not None and int(label) < 0:
            raise ValueError(f"label must be 0 or more, got {label}")

    @property
    def remote(self) -> bool:
        return self.backend in REMOTE_BACKENDS

    def option(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.options:
            if k == key:
                return v
        return default

    @property
    def label(self) -> int | None:
        value = self.option("label")
        return None if value is None else int(value)

    @property
    def passages(self) -> str:
        """How a document longer than the model's window is scored: ``firstp`` or ``maxp``."""
        return self.option("passages") or "firstp"

    @property
    def key_env(self) -> str | None:
        """The environment variable an HTTP backend reads its key from (None in-process)."""
        if not self.remote:
            return None
        return self.option("key_env") or KEY_ENV[self.backend]

    @property
    def short(self) -> str:
        """A short display name: the model's last path part, or the remote model and host."""
        if self.remote:
            host = urlsplit(self.target).netloc
            model = self.option("model")
            return f"{self.backend}:{model}@{host}" if model else f"{self.backend}:{host}"
        name = Path(self.target.rstrip("/")).name or self.target
        return name if self.backend == "torch" else f"{self.backend}:{name}"

    def __str__(self) -> str:
        prefix = "" if self.backend == "torch" else f"{self.backend}:"
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.options)
        return prefix + self.target + (f"?{query}" if query else "")

    def with_backend(self, backend: str) -> RerankerSpec:
        """The same model on another in-process backend (HTTP specs have no other backend)."""
        if backend not in LOCAL_BACKENDS:
            raise ValueError(
                f"unknown in-process backend {backend!r}; choose from {LOCAL_BACKENDS}"
            )
        if self.remote:
            raise ValueError(f"{self} is an HTTP reranker; a backend applies to local models")
        return RerankerSpec(backend, self.target, self.options)


def display_name(text: str) -> str:
    """The short name of a reranker spec (``bf16:demo-reranker``, ``tei:127.0.0.1:8080``); the
    text itself when it is not a valid spec."""
    try:
        return RerankerSpec.parse(text).short
    except ValueError:
        return text


def backends_help() -> str:
    """One line per backend, for ``--help`` texts."""
    return "; ".join(f"{name}: {text}" for name, text in BACKENDS.items())
