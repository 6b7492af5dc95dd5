"""`rnnlab experiment ocr --quick`: the three readers train on the same rendered lines and are read
by length and font set; the segmented model, told where the characters are, learns first."""

import json

import numpy as np
import pytest

from rnnlab.experiments.ocr import MODELS, TEST_LENGTHS, per_character
from rnnlab.train.supervised import training_losses

pytest.importorskip("matplotlib")  # the lines are rendered with the fonts matplotlib ships


def test_ocr_quick_trains_all_three_readers_and_reads_every_length_in_both_font_sets(run_quick):
    summary, out = run_quick("ocr")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == len(MODELS) * 2 * len(TEST_LENGTHS)
    assert {(r["model"], r["fonts"]) for r in records} == {
        (m, f) for m in MODELS for f in ("training fonts", "held-out fonts")
    }
    table = summary["table"]
    # told where the characters are, the segmented model reads most of them after 120 steps
    # (measured 96% per character; chance is 1/26)
    assert table["segmented"]["training fonts"]["3-10"]["per_character"] > 0.5
    for name in MODELS:  # the two unsegmented ones at least learn (CTC's first plateau takes longer)
        losses = [loss for _, loss in training_losses(out / name)]
        assert np.mean(losses[-20:]) < 0.9 * np.mean(losses[:20]), name
    for picture in ("accuracy_by_length.png", "examples.png"):
        assert (out / picture).stat().st_size > 10_000
    assert summary["target_met"] is None  # quick runs judge no target


def test_per_character_counts_positions_and_sequence_metrics_agree():
    assert per_character(["abc", "xy"], ["abd", "xyz"]) == pytest.approx(4 / 6)
    assert per_character(["", "abc"], ["ab", "abc"]) == pytest.approx(3 / 5)
