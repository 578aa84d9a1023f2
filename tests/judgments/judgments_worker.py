"""Worker processes for tests/test_judgments_concurrency.py (run as a script, not collected).

Modes:

* ``swarm DB OUT_DIR PROCESSES THREADS LABELS``: forks PROCESSES writer processes and two
  reader processes. Each writer runs THREADS threads, each with its own store, writing LABELS
  new labels (and re-saving every fifth with ``expected_version``) with random 0-2 ms pauses;
  the readers export JSONL or CSV in turn until the writers are done. Every child writes its
  acknowledged labels or export count, and every exception a caller saw, to
  ``OUT_DIR/<name>.json``.
* ``zygote DB ACK_DIR``: forks one writer per ``run N`` command on stdin; each writes labels
  forever, appending ``ack DOC GRADE VERSION`` to ``ACK_DIR/acks-N.txt`` (flushed) after each
  save returns, until the test kills it with SIGKILL.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from rankshift.judgments import JudgmentStore

COLLECTION = "fp-concurrency"


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.005)


def writer(db: str, proc: int, threads: int, labels: int, go_file: str) -> dict:
    """Write ``threads x labels`` labels from as many threads; return acks and errors."""
    acks: list[list] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        rng = random.Random(proc * 1000 + thread)
        try:
            store = JudgmentStore(db)
        except Exception:
            with lock:
                errors.append(traceback.format_exc())
            return
        _wait_for(Path(go_file))
        with store:
            for i in range(labels):
                doc_id = f"d{thread}-{i}"
                annotator = f"a{proc}-{thread}"
                time.sleep(rng.uniform(0, 0.002))
                try:
                    j = store.save(
                        COLLECTION,
                        f"q{proc}",
                        doc_id,
                        annotator,
                        rng.randint(0, 3),
                        context={"stage": "reranked", "rank": i + 1},
                        expected_version=0,
                    )
                    if i % 5 == 0:
                        j = store.save(
                            COLLECTION,
                            f"q{proc}",
                            doc_id,
                            annotator,
                            rng.randint(0, 3),
                            expected_version=j.version,
                        )
                except Exception:
                    with lock:
                        errors.append(traceback.format_exc())
                    continue
                with lock:
                    acks.append([j.query_id, j.doc_id, j.annotator, j.grade, j.version])

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return {"acks": acks, "errors": errors}


def reader(db: str, stop_file: str, go_file: str) -> dict:
    """Export JSONL or CSV, in turn, until ``stop_file`` appears; return counts and errors."""
    exports = 0
    errors: list[str] = []
    with JudgmentStore(db) as store:
        _wait_for(Path(go_file))
        while not Path(stop_file).exists():
            export = store.export_jsonl if exports % 2 == 0 else store.export_csv
            started = time.monotonic()
            try:
                export(io.StringIO(), COLLECTION)
                exports += 1
            except Exception:
                errors.append(traceback.format_exc())
            # An export of 8k labels costs a few hundred ms of CPU; back to back, two readers
            # would take both cores of a small machine from the writers. Resting five times
            # as long as the export took caps a reader at a sixth of a core, and the gaps
            # let the writers' checkpoints reset the WAL.
            time.sleep(max(0.05, 5 * (time.monotonic() - started)))
    return {"exports": exports, "errors": errors}


def swarm(db: str, out_dir: str, processes: int, threads: int, labels: int) -> None:
    """Fork ``processes`` writers and two readers, run them together, collect their results.

    Each child writes ``OUT_DIR/<name>.json``. Forking from one process that has already
    imported rankshift saves ten interpreter start-ups (most of a second of CPU each).
    Exits non-zero if any child failed.
    """
    out = Path(out_dir)
    go, stop = out / "go", out / "stop"

    def fork(name: str, work: Callable[[], dict]) -> int:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                (out / f"{name}.json").write_text(json.dumps(work()))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)  # never fall back into the parent's code
        return pid

    writers = [
        fork(f"writer-{p}", lambda p=p: writer(db, p, threads, labels, str(go)))
        for p in range(processes)
    ]
    readers = [fork(f"reader-{r}", lambda: reader(db, str(stop), str(go))) for r in range(2)]
    time.sleep(0.5)  # every thread opens its store (one of them creates the schema) first
    go.touch()
    failed = [pid for pid in writers if os.waitpid(pid, 0)[1] != 0]
    stop.touch()
    failed += [pid for pid in readers if os.waitpid(pid, 0)[1] != 0]
    sys.exit(1 if failed else 0)


def killable(db: str, run: int, out: TextIO) -> None:
    """Write labels forever, writing ``ack DOC GRADE VERSION`` after each save returns."""
    rng = random.Random(run)
    with JudgmentStore(db) as store:
        versions: dict[str, int] = {}
        i = 0
        while True:
            if i % 3 == 2 and versions:
                # Re-grade an earlier label of this run, as an annotator changing their mind.
                doc_id = rng.choice(sorted(versions))
                expected = versions[doc_id]
            else:
                doc_id, expected = f"r{run}-{i}", 0
            j = store.save(
                "fp-kill", "q1", doc_id, "alice", rng.randint(0, 3), expected_version=expected
            )
            versions[doc_id] = j.version
            # One write(2) per line: once it returns, the line survives the process's death.
            out.write(f"ack {doc_id} {j.grade} {j.version}\n")
            out.flush()
            i += 1


def zygote(db: str, ack_dir: str) -> None:
    """Fork a fresh killable writer per ``run N`` line on stdin and answer ``pid PID``.

    Importing rankshift takes most of a second; forking an already-imported process takes a
    few milliseconds, so fifty crash-and-restart cycles fit in seconds. Nothing here opens the
    database, so no connection crosses a fork. ``reap PID`` waits for a child and answers
    ``status STATUS`` (the raw wait status).
    """
    for line in sys.stdin:
        command, arg = line.split()
        if command == "run":
            pid = os.fork()
            if pid == 0:
                try:
                    with open(Path(ack_dir) / f"acks-{arg}.txt", "w") as out:
                        killable(db, int(arg), out)
                finally:
                    os._exit(1)  # never fall back into the zygote's loop
            print(f"pid {pid}", flush=True)
        elif command == "reap":
            _, status = os.waitpid(int(arg), 0)
            print(f"status {status}", flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "swarm":
        swarm(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif mode == "zygote":
        zygote(args[0], args[1])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
