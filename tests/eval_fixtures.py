"""A small graded collection for the evaluation tests, as objects and as a BEIR folder.

Twenty short documents about animals and their care; six test queries and six train queries
with graded judgments (0-3), including one test query whose judged documents are all grade 0.
"""

from __future__ import annotations

import json
from pathlib import Path

from rankshift.corpus import Collection, load_collection

DOCS: list[tuple[str, str, str]] = [
    ("cat1", "Cats", "A cat is a small feline that purrs, naps in the sun and hunts mice."),
    ("cat2", "Cat food", "Adult cats need meat: feed a cat wet food twice a day and fresh water."),
    ("cat3", "Cat litter", "Clean the cat litter box daily; cats avoid a dirty litter tray."),
    ("dog1", "Dogs", "A dog is a loyal companion that loves to play fetch and go for walks."),
    ("dog2", "Dog training", "Train a puppy with short sessions, treats and a clear word for sit."),
    ("dog3", "Dog food", "Dogs eat meat and grains; never feed a dog chocolate or grapes."),
    ("bird1", "Birds", "Most birds can fly: hollow bones and strong wing muscles lift them."),
    ("bird2", "Penguins", "Penguins are birds that cannot fly; they swim with their wings."),
    ("bird3", "Parrots", "Parrots are clever birds that can learn to imitate human speech."),
    ("fish1", "Fish", "A fish breathes water through its gills and swims with its fins."),
    ("fish2", "Aquarium", "An aquarium needs a filter, a heater and weekly partial water changes."),
    ("fish3", "Goldfish", "Goldfish live for years in a large tank with clean, cool water."),
    ("horse1", "Horses", "Horses graze on grass and hay and need a lot of room to run."),
    ("horse2", "Riding", "Riding a horse takes balance; start at a walk with an instructor."),
    ("vet1", "The vet", "Take your pet to the vet once a year for vaccines and a check-up."),
    ("vet2", "Fleas", "Fleas make cats and dogs itch; treat every pet in the house at once."),
    (
        "rabbit1",
        "Rabbits",
        "Rabbits eat hay and leafy greens and need to chew to wear their teeth.",
    ),
    ("hamster1", "Hamsters", "Hamsters are small rodents that run on a wheel at night."),
    ("snake1", "Snakes", "Snakes are reptiles that swallow their prey whole and shed their skin."),
    ("turtle1", "Turtles", "Turtles carry a shell and some live for more than a hundred years."),
]

QUERIES: dict[str, str] = {
    # test split
    "t1": "which birds can fly",
    "t2": "what should I feed my cat",
    "t3": "how to keep aquarium water clean",
    "t4": "how do I train my puppy",
    "t5": "fleas on my dog",
    "t6": "do hamsters run at night",
    # train split
    "r1": "how do fish breathe",
    "r2": "what do horses eat",
    "r3": "cat litter box cleaning",
    "r4": "can parrots talk",
    "r5": "what do rabbits eat",
    "r6": "how often to visit the vet",
}

TEST_QRELS: dict[str, dict[str, int]] = {
    "t1": {"bird1": 3, "bird2": 1, "bird3": 1, "fish1": 0},
    "t2": {"cat2": 3, "dog3": 1, "cat1": 0},
    "t3": {"fish2": 3, "fish3": 2, "fish1": 0},
    "t4": {"dog2": 3, "dog1": 1},
    "t5": {"vet2": 3, "dog1": 0, "vet1": 1},
    "t6": {"rabbit1": 0, "horse1": 0},  # judged, but nothing relevant
}

TRAIN_QRELS: dict[str, dict[str, int]] = {
    "r1": {"fish1": 3, "fish2": 0, "fish3": 1},
    "r2": {"horse1": 3, "horse2": 0, "rabbit1": 0},
    "r3": {"cat3": 3, "cat1": 1, "cat2": 0},
    "r4": {"bird3": 3, "bird1": 0},
    "r5": {"rabbit1": 3, "horse1": 1, "hamster1": 0},
    "r6": {"vet1": 3, "vet2": 1},
}


def write_beir_folder(path: Path) -> Path:
    """Write the collection as a BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv)."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, title, text in DOCS:
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(path / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (path / "qrels").mkdir(exist_ok=True)
    for split, qrels in (("test", TEST_QRELS), ("train", TRAIN_QRELS)):
        with open(path / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, judged in qrels.items():
                for doc_id, grade in judged.items():
                    f.write(f"{qid}\t{doc_id}\t{grade}\n")
    return path


def load_pets(path: Path) -> Collection:
    return load_collection(write_beir_folder(path), name="pets")
