"""Many writers, readers and crashes against one judgment database file.

The workers live in ``tests/judgments/judgments_worker.py`` and run as separate processes, so the
locking under test is SQLite's file locking, exactly as in the app (one process per server,
several servers, a CLI import at the same time).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rankshift.judgments import MIGRATIONS, JudgmentStore

WORKER = Path(__file__).with_name("judgments_worker.py")


def _spawn(*args: object, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.slow
def test_many_processes_and_threads_write_while_readers_export(tmp_path: Path) -> None:
    db = tmp_path / "judgments.db"
    processes, threads, labels = 8, 4, 250
    started = time.monotonic()
    swarm = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "swarm",
            *map(str, (db, tmp_path, processes, threads, labels)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert swarm.returncode == 0, swarm.stderr

    writers = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("writer-*.json"))]
    readers = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("reader-*.json"))]
    assert (len(writers), len(readers)) == (processes, 2)
    errors = [e for r in writers + readers for e in r["errors"]]
    assert errors == [], errors[0]
    assert all(r["exports"] > 0 for r in readers)

    acks = {(q, d, a): (g, v) for r in writers for q, d, a, g, v in r["acks"]}
    assert len(acks) == processes * threads * labels
    with JudgmentStore(db) as store:
        stored = store.list_judgments("fp-concurrency")
        # Exactly once: one row per acknowledged label and no other rows...
        assert len(stored) == len(acks)
        # ... each holding what the last acknowledged save returned.
        assert {j.key[1:]: (j.grade, j.version) for j in stored} == acks
        assert store.replay_history() == stored
    assert _integrity(db) == "ok"
    exports = sum(r["exports"] for r in readers)
    print(f"\nconcurrency test: {len(acks)} labels, {exports} exports in {elapsed:.1f}s")


def _read_acks(path: Path) -> list[tuple[str, int, int]]:
    acks: list[tuple[str, int, int]] = []
    if not path.exists():  # killed before it opened its ack file: it acknowledged nothing
        return acks
    for line in path.read_text().splitlines(keepends=True):
        # A line cut short by the kill was never a complete acknowledgement.
        if line.startswith("ack ") and line.endswith("\n"):
            _, doc_id, grade, version = line.split()
            acks.append((doc_id, int(grade), int(version)))
    return acks


def _ask(zygote: subprocess.Popen[str], command: str) -> int:
    assert zygote.stdin is not None and zygote.stdout is not None
    zygote.stdin.write(command + "\n")
    zygote.stdin.flush()
    answer = zygote.stdout.readline()
    assert answer, zygote.stderr.read() if zygote.stderr else "zygote died"
    return int(answer.split()[1])


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_label(tmp_path: Path) -> None:
    db = tmp_path / "judgments.db"
    rng = random.Random(20240601)
    kills = 50
    acked: dict[str, tuple[int, int]] = {}
    started = time.monotonic()
    # Each writer is a fresh process forked from one that has already imported rankshift.
    zygote = _spawn("zygote", db, tmp_path, stdin=subprocess.PIPE)
    try:
        for run in range(kills):
            pid = _ask(zygote, f"run {run}")
            time.sleep(rng.uniform(0.02, 0.2))
            os.kill(pid, signal.SIGKILL)
            status = _ask(zygote, f"reap {pid}")
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"writer {run} died before it was killed (wait status {status})"
            )
            for doc_id, grade, version in _read_acks(tmp_path / f"acks-{run}.txt"):
                acked[doc_id] = (grade, version)

            assert _integrity(db) == "ok", f"after kill {run + 1}"
            conn = sqlite3.connect(db, timeout=10)
            try:
                schema = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                # A writer killed while creating the schema leaves all of it or none of it.
                assert (schema, "judgments" in tables) in ((0, False), (len(MIGRATIONS), True))
                rows = {
                    doc_id: (grade, version)
                    for doc_id, grade, version in (
                        conn.execute("SELECT doc_id, grade, version FROM judgments")
                        if schema
                        else []
                    )
                }
            finally:
                conn.close()
            for doc_id, (grade, version) in acked.items():
                assert doc_id in rows, f"acknowledged {doc_id} lost after kill {run + 1}"
                # The writer may have committed a newer version it had no time to acknowledge.
                assert rows[doc_id][1] >= version
                if rows[doc_id][1] == version:
                    assert rows[doc_id][0] == grade
    finally:
        zygote.communicate(timeout=30)  # closes its stdin, which ends its loop
    elapsed = time.monotonic() - started

    assert zygote.returncode == 0
    assert len(acked) > kills  # the kills landed while labels were being written
    with JudgmentStore(db) as store:
        assert store.replay_history() == store.list_judgments(None)
    print(f"\nSIGKILL test: {kills} kills, {len(acked)} acked labels in {elapsed:.1f}s")
