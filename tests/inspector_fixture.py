"""A dozen-document BEIR folder for the app's tests (AppTest and the real browser).

Small enough to index and rerank in a second; it holds two hostile documents (a ``<script>``
and an ``<img onerror>``) and one document long enough to overflow a 256-token window.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

QUERY = "vitamin d bone density"
"""The query the tests type; every document below shares at least one word with it or with
the dense model's idea of it."""

SCRIPT_TEXT = "<script>window.__pwned=1</script>"
IMG_TEXT = '<img src=x onerror="window.__pwned=2">'

LONG_TAIL = (
    "The trial continued for three further winters with quarterly visits. "
    "Participants kept diaries of sun exposure, diet and falls. "
) * 14

DOCS = [
    (
        "d01",
        "Vitamin D and bone density",
        "Vitamin D supplements raised bone mineral density in older women over two years.",
    ),
    (
        "d02",
        "Calcium intake and fractures",
        "Dietary calcium intake was not associated with hip fracture risk in a large cohort.",
    ),
    (
        "d03",
        "Sunlight exposure",
        "Skin synthesis of vitamin D depends on latitude, season and sunscreen use.",
    ),
    (
        "d04",
        "Bone remodelling",
        "Osteoclasts resorb bone and osteoblasts form new bone; density reflects the balance.",
    ),
    ("d05", "Script injection", f"Vitamin D and bone density. {SCRIPT_TEXT} more about vitamin D."),
    (
        "d06",
        "Image onerror",
        f"Bone density scans {IMG_TEXT} and **markdown** [link](javascript:alert(1)) $x$ :smile:",
    ),
    (
        "d07",
        "Exercise and the skeleton",
        "Resistance exercise increases bone density in the hip and spine.",
    ),
    (
        "d08",
        "Vitamin D deficiency in winter",
        "Deficiency is common in winter months at northern latitudes. " + LONG_TAIL,
    ),
    (
        "d09",
        "Osteoporosis treatment",
        "Bisphosphonates reduce vertebral fractures in women with osteoporosis.",
    ),
    (
        "d10",
        "Coffee and sleep",
        "Caffeine late in the day delays sleep onset and shortens deep sleep.",
    ),
    (
        "d11",
        "Dairy and density",
        "Milk consumption in adolescence predicted peak bone mass in early adulthood.",
    ),
    (
        "d12",
        "Vitamin K",
        "Vitamin K2 may act with vitamin D on bone mineralisation, but trials disagree.",
    ),
]

QUERIES = {
    "q1": QUERY,
    "q2": "does exercise make bones stronger",
    "q3": "caffeine and sleep",
}

QRELS = [("q1", "d01", 2), ("q1", "d07", 1), ("q1", "d10", 0), ("q2", "d07", 2)]


def write_collection(folder: Path) -> Path:
    """Write the BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, title, text in DOCS:
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, doc_id, grade in QRELS:
            f.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder


def plain(markdown: str) -> str:
    """Undo backslash escapes, to compare rendered markdown with the text it shows."""
    return re.sub(r"\\(.)", r"\1", markdown)
