"""``rankshift train``: its help names every option a user needs to set up a run.

(Real training runs are in tests/training; they are minutes, not seconds.)
"""

from __future__ import annotations

import pytest

from rankshift.cli import main
from rankshift.training.config import HEADS, LOSSES


def test_train_help_lists_the_options_and_the_registries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rankshift train")
    for flag in ("--split", "--judgments", "--exclude-split", "--base-model", "--head", "--loss",
                 "--epochs", "--max-steps", "--max-length", "--validation-stage", "--out"):  # fmt: skip
        assert flag in out, flag
    # The choices come from the registries, so a new loss or head shows up here by itself.
    assert all(name in out for name in [*LOSSES, *HEADS])


def test_train_refuses_an_unknown_loss_with_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "data/demo", "--loss", "hinge"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'hinge'" in err and "lambda" in err
