"""Start the real app (``streamlit run``) on a free localhost port, and stop it afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import require_browser, streamlit_app
from inspector_fixture import write_collection


@pytest.fixture(scope="session")
def e2e_judgments_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The judgments database the e2e server writes to (``RANKSHIFT_JUDGMENTS``)."""
    return tmp_path_factory.mktemp("e2e-judgments") / "judgments.sqlite"


@pytest.fixture(scope="session")
def app_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_cross_encoder_dir: Path, e2e_judgments_db: Path
) -> Iterator[str]:
    """The app on http://127.0.0.1:<free port>, over the fixture collection, with a reranker
    that loads (an untrained cross-encoder folder, so the dropped panel has content), and a
    judgments database of its own (``e2e_judgments_db``), never the user's."""
    require_browser()
    tmp = tmp_path_factory.mktemp("e2e")
    collection = write_collection(tmp / "collection")
    env = {
        **os.environ,
        "RANKSHIFT_COLLECTION": str(collection),
        "RANKSHIFT_RERANKER": str(tiny_cross_encoder_dir),
        "RANKSHIFT_CACHE": str(tmp / "cache"),
        "RANKSHIFT_JUDGMENTS": str(e2e_judgments_db),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with streamlit_app(env, tmp / "streamlit.log") as url:
        yield url
