"""Who is labelling, and reading the judgment store, for the Judge, Judgments and Inspect pages.

Identity: the signed-in user when the app is configured for login (``st.user``), otherwise a
name typed once per session. The typed name lives in session state and in the ``?annotator=``
query parameter, so a browser refresh (a new session) keeps it.

The store: never cached. Every rerun opens its own connection (``with open_store() as store``)
and closes it before the rerun ends; writes happen in widget callbacks only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException

from rankshift.config import judgments_path
from rankshift.judgments import JudgedCollection, JudgmentStore, JudgmentStoreError
from rankshift.judgments.queue import clean_annotator
from rankshift.present import escape_markdown

NAME_KEY = "judge_annotator"
NAME_INPUT_KEY = "judge_name_input"
NAME_ERROR_KEY = "judge_name_error"
NAME_PARAM = "annotator"

STORE_ERRORS = (JudgmentStoreError, sqlite3.Error, OSError)
"""What opening or reading the store can raise: shown as a message, never a traceback."""

T = TypeVar("T")


def open_store() -> JudgmentStore:
    """A new connection to the judgments database (``RANKSHIFT_JUDGMENTS``)."""
    return JudgmentStore(judgments_path())


def read(
    op: Callable[[JudgmentStore], T], default: T, *, adopt: JudgedCollection | None = None
) -> tuple[T, str | None]:
    """Run ``op`` on a store opened for this call; on failure return ``default`` and a message.

    Args:
        op: what to read.
        default: the result when the store cannot be read.
        adopt: the collection on screen: its labels from before schema 2 (keyed by its
            fingerprint) are adopted first (:meth:`JudgmentStore.adopt`; cheap when none).
    """
    try:
        with open_store() as store:
            if adopt is not None:
                store.adopt(adopt)
            return op(store), None
    except STORE_ERRORS as e:
        return default, f"Cannot read the judgments database ({judgments_path()}): {e}"


# ------------------------------------------------------------------------------ identity


def signed_in_user() -> str | None:
    """The logged-in user's e-mail (or name), or None when login is off or nobody signed in."""
    try:
        user = st.user
        if not user.is_logged_in:
            return None
        for field in ("email", "name", "sub"):
            value = user.get(field)
            if isinstance(value, str) and value.strip():
                return value.strip()
    except (AttributeError, KeyError, RuntimeError, StreamlitAPIException):
        # Auth is not configured: st.user has no is_logged_in at all.
        return None
    return None


def current() -> str | None:
    """The annotator for this session, or None when a name still has to be typed."""
    user = signed_in_user()
    if user is not None:
        return user
    name = st.session_state.get(NAME_KEY)
    if name is None:
        name = clean_annotator(st.query_params.get(NAME_PARAM))
        if name is not None:
            st.session_state[NAME_KEY] = name
    if name is not None and st.query_params.get(NAME_PARAM) != name:
        st.query_params[NAME_PARAM] = name
    return name


def _set_name() -> None:
    name = clean_annotator(st.session_state.get(NAME_INPUT_KEY, ""))
    if name is None:
        st.session_state[NAME_ERROR_KEY] = True
        return
    st.session_state.pop(NAME_ERROR_KEY, None)
    st.session_state[NAME_KEY] = name
    st.query_params[NAME_PARAM] = name


def _clear_name() -> None:
    st.session_state.pop(NAME_KEY, None)
    st.query_params.pop(NAME_PARAM, None)


def name_form() -> None:
    """Ask for a name (once per session; the URL remembers it across reloads)."""
    with st.form("judge_name_form", border=True, enter_to_submit=True):
        st.markdown("**Who is judging?** Every label you save carries this name.")
        st.text_input(
            "Your name",
            key=NAME_INPUT_KEY,
            placeholder="e.g. Ada Lovelace",
            max_chars=80,
        )
        st.form_submit_button("Start judging", type="primary", on_click=_set_name)
    if st.session_state.get(NAME_ERROR_KEY):
        st.error(
            "Type a name (names starting with “qrels:” are reserved for imported qrels).",
            icon=":material/badge:",
        )


def identity_line(name: str) -> None:
    """Who the labels go to, with a way to change it (unless the name comes from login)."""
    if signed_in_user() is not None:
        st.caption(f":material/account_circle: Signed in as **{escape_markdown(name)}**")
        return
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.caption(f":material/badge: Judging as **{escape_markdown(name)}**")
    right.button("Change name", key="judge_change_name", on_click=_clear_name, type="tertiary")
