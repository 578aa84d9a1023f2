"""rankshift inspector: entry point. Page config, the shared sidebar, navigation.

Run with ``streamlit run app/streamlit_app.py --server.address 127.0.0.1`` (``make run``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

APP_DIR = Path(__file__).resolve().parent
# `streamlit run` puts this folder on sys.path; AppTest does not. Pages import `resources`
# and `sidebar` from here.
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

import sidebar  # noqa: E402

st.set_page_config(
    page_title="rankshift inspector",
    page_icon=":material/swap_vert:",
    layout="wide",
    initial_sidebar_state="expanded",
    menu_items={
        "About": "rankshift: see what a cross-encoder reranker did to your first-stage results."
    },
)

# Every page has its own URL path, Inspect included: Streamlit serves the default page at `/`
# only, so a default page with url_path="inspect" answered `/inspect` with "Page not found".
# `/` is a hidden default page that forwards to /inspect with the link's query parameters.
INSPECT = st.Page(
    str(APP_DIR / "app_pages" / "inspect.py"),
    title="Inspect",
    icon=":material/compare_arrows:",
    url_path="inspect",
)


def _home() -> None:
    """`/`: open the Inspect page (the entry point forwards before anything is drawn)."""
    _forward_to_inspect()


def _forward_to_inspect() -> None:
    params = [(key, st.query_params.get_all(key)) for key in st.query_params]
    st.switch_page(INSPECT, query_params=params)


HOME = st.Page(_home, title="Inspect", url_path="home", default=True, visibility="hidden")

PAGES = {
    "Audit": [
        HOME,
        INSPECT,
        st.Page(
            str(APP_DIR / "app_pages" / "judge.py"),
            title="Judge",
            icon=":material/rule:",
            url_path="judge",
        ),
        st.Page(
            str(APP_DIR / "app_pages" / "judgments.py"),
            title="Judgments",
            icon=":material/fact_check:",
            url_path="judgments",
        ),
        st.Page(
            str(APP_DIR / "app_pages" / "evaluate.py"),
            title="Evaluate",
            icon=":material/query_stats:",
            url_path="evaluate",
        ),
        st.Page(
            str(APP_DIR / "app_pages" / "train.py"),
            title="Train",
            icon=":material/model_training:",
            url_path="train",
        ),
    ],
    "Help": [
        st.Page(
            str(APP_DIR / "app_pages" / "about.py"),
            title="About & help",
            icon=":material/help:",
            url_path="about",
        ),
    ],
}

page = st.navigation(PAGES, position="sidebar")
if page is HOME:
    _forward_to_inspect()
sidebar.render()
page.run()
