"""AppTest: the About page, and the shared sidebar's collection sources (path, upload, demo)."""

from __future__ import annotations

from pathlib import Path

from inspector_fixture import plain

from rankshift.config import DEMO_DIR

APP_DIR = Path(__file__).resolve().parents[2] / "app"
GOOD_CSV = (
    b"id,title,text\n"
    b"u1,Tea,Green tea contains caffeine and catechins.\n"
    b"u2,Coffee,Coffee has more caffeine than tea.\n"
    b"u3,Water,Water has no caffeine at all.\n"
)
BAD_JSONL = b'{"_id": "x1", "text": "fine"}\n{"_id": "x2", "text": \n'


def _errors(at) -> list[str]:
    return [plain(e.value) for e in at.sidebar.error]


def test_about_page(make_app) -> None:
    at = make_app().run()
    at.switch_page("app_pages/about.py").run()
    assert not at.exception
    assert at.title[0].value == "About rankshift"
    assert any("RANKSHIFT_COLLECTION" in m.value for m in at.markdown)


def test_every_page_runs_without_exceptions(make_app) -> None:
    at = make_app().run()
    pages = sorted(p.name for p in (APP_DIR / "app_pages").glob("*.py"))
    assert {"about.py", "inspect.py"} <= set(pages)
    for page in pages:
        at.switch_page(f"app_pages/{page}").run()
        assert not at.exception, (page, at.exception)


def test_reranking_can_start_off(make_app) -> None:
    at = make_app("none").run()
    assert at.toggle(key="sidebar_rerank_on").value is False
    assert at.session_state["sidebar_context"].settings.reranker is None
    at.text_input(key="inspect_query").set_value("vitamin d").run()
    assert not at.exception
    assert any("Reranking is off" in i.value for i in at.info)


def test_bad_path_is_a_clear_error(make_app) -> None:
    at = make_app().run()
    at.switch_page("app_pages/about.py").run()  # no index building: only the sidebar matters
    at.text_input(key="sidebar_path").set_value("/no/such/collection").run()
    assert not at.exception
    assert any("no such file or folder" in e for e in _errors(at))


def test_upload_validates_and_names_the_bad_line(make_app) -> None:
    at = make_app().run()
    at.switch_page("app_pages/about.py").run()
    at.segmented_control(key="sidebar_source").set_value("upload").run()
    at.file_uploader(key="sidebar_upload").upload("corpus.jsonl", BAD_JSONL).run()
    assert not at.exception
    errors = _errors(at)
    assert any("corpus.jsonl, line 2: invalid JSON" in e for e in errors), errors

    # A CSV saved as .json is read as JSON, and says so.
    at.file_uploader(key="sidebar_upload").upload("corpus.json", GOOD_CSV).run()
    assert not at.exception
    assert any("corpus.json, line 1: invalid JSON" in e for e in _errors(at)), _errors(at)


def test_uploaded_csv_is_inspected(make_app) -> None:
    at = make_app().run()
    at.segmented_control(key="sidebar_source").set_value("upload").run()
    at.file_uploader(key="sidebar_upload").upload("drinks.csv", GOOD_CSV, "text/csv").run()
    assert not at.exception
    assert any("3 documents" in plain(c.value) for c in at.sidebar.caption)
    at.text_input(key="inspect_query").set_value("caffeine in tea").run()
    assert not at.exception
    frames = [d.value for d in at.dataframe if "snippet" in d.value.columns]
    assert frames and set(frames[0]["doc_id"]) <= {"u1", "u2", "u3"}


def test_demo_source(make_app) -> None:
    at = make_app().run()
    at.switch_page("app_pages/about.py").run()
    at.segmented_control(key="sidebar_source").set_value("demo").run()
    assert not at.exception
    if (DEMO_DIR / "corpus.jsonl").exists():
        assert not at.sidebar.error
        assert any("documents" in plain(c.value) for c in at.sidebar.caption)
    else:
        assert any("demo collection is missing" in e for e in _errors(at))


# The one exception: the heat strip needs graded colours per sentence. Its HTML is built only by
# rankshift.present.explain (heat_strip_html, legend_html), which html.escape every text
# (tests/explain/test_present_explain.py feeds it <script> and markup); the panel passes nothing
# else to st.html.
HTML_ALLOWED = {"explain_panel.py": ("views.heat_strip_html(", "views.legend_html(")}


def test_app_never_renders_raw_html() -> None:
    """No page or helper passes unsafe_allow_html or st.html; corpus text stays text."""
    offenders = []
    for path in APP_DIR.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        allowed = HTML_ALLOWED.get(str(path.relative_to(APP_DIR)), ())
        for i, line in enumerate(lines, 1):
            if "unsafe_allow_html" in line or "components.html" in line:
                offenders.append(f"{path.relative_to(APP_DIR)}:{i}")
            elif "st.html(" in line:
                call = line + (lines[i] if i < len(lines) else "")
                if not any(f in call for f in allowed):
                    offenders.append(f"{path.relative_to(APP_DIR)}:{i}")
    assert offenders == []


def test_streamlit_config_keeps_xsrf_on_and_limits_uploads() -> None:
    import tomllib

    config = tomllib.loads((APP_DIR.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert 0 < config["server"]["maxUploadSize"] <= 200
    assert "address" not in config["server"]
