"""`rnnlab experiment caption --quick`: both captioners train, are read on scenes of training pairs
and of held-out pairs, and the run folder holds the summary and the pictures."""

import json


def test_caption_quick_writes_its_summary_metrics_and_pictures(run_quick):
    summary, out = run_quick("caption")
    models = summary["models"]
    assert set(models) == {"global", "attention"}
    for info in models.values():
        for split in ("seen", "unseen"):
            assert 0 <= info[split]["exact_match"] <= info[split]["word_accuracy"] <= 1
        # 150 steps learn the grammar at least ("a", "left of", the word count): chance is 1/19
        assert info["seen"]["word_accuracy"] > 0.3, info
    assert summary["target_met"] is None  # a quick run does not claim the target
    assert len(summary["held_out_pairs"]) == 12
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tests = {(r["model"], r["split"]) for r in records if r.get("event") == "test"}
    assert tests == {(m, s) for m in ("global", "attention") for s in ("seen", "unseen")}
    assert any(r.get("event") == "attention_example" for r in records)
    for name in ("examples.png", "attention.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 1000, name
    assert (out / "attention" / "best").is_dir()
    assert "Target" not in (out / "summary.md").read_text()
