"""Rendered scenes for captioning: captions say what was drawn, the held-out pairs never reach the
training draws, the same generator state gives the same scenes, bad arguments are refused."""

import numpy as np
import pytest

from rnnlab.data.scenes import (
    COLOURS,
    SHAPES,
    TYPES,
    VOCAB,
    all_pairs,
    draw_scenes,
    held_out_pairs,
)

CHANNEL = {"red": 0, "green": 1, "blue": 2}  # the channel that is brightest in each colour


def test_held_out_pairs_are_a_twelfth_of_each_types_partners_and_leave_every_type_in_training():
    held = held_out_pairs()
    assert len(held) == 12 and set(held) < set(all_pairs()) and len(all_pairs()) == 66
    for t in TYPES:
        assert sum(t in p for p in held) == 2  # two held-out partners, nine left for training
    assert frozenset({("red", "circle"), ("green", "square")}) in held


def test_captions_say_what_was_drawn():
    scenes = draw_scenes(np.random.default_rng(0), 200, "train", noise=0.0)
    kinds = set()
    for image, words, things, relation in zip(scenes.images, scenes.captions, scenes.things, scenes.relations):
        assert all(w in VOCAB.index for w in words) and len(words) <= 8
        for t in things:  # the pixel at each centre has the thing's colour
            pixel = image[:, int(t.y), int(t.x)]
            if t.colour == "yellow":
                assert pixel[0] > 0.5 and pixel[1] > 0.5 and pixel[2] < 0.2
            else:
                assert pixel.argmax() == CHANNEL[t.colour] and pixel.max() > 0.5
        if len(things) == 1:
            assert words == ["a", things[0].colour, things[0].shape]
            kinds.add("one")
        elif things[0].type == things[1].type:
            assert words == ["two", things[0].colour, things[0].shape + "s"] and relation is None
            kinds.add("two")
        else:
            a, b = things
            dx, dy = b.x - a.x, b.y - a.y
            if relation == "left of":
                assert words[3:5] == ["left", "of"] and dx > abs(dy)  # the first is clearly left
            else:
                assert words[3] == "above" and dy > abs(dx)  # image rows grow downwards
            assert words[:3] == ["a", a.colour, a.shape] and words[-3:] == ["a", b.colour, b.shape]
            kinds.add("pair")
    assert kinds == {"one", "two", "pair"}


def test_shapes_do_not_overlap_and_are_drawn_with_their_own_outline():
    scenes = draw_scenes(np.random.default_rng(1), 100, "seen", noise=0.0)
    for image, (a, b) in zip(scenes.images, scenes.things):
        assert np.hypot(a.x - b.x, a.y - b.y) >= a.r + b.r + 2
        lit = image.max(axis=0) > 0.3

        def at(t, dx, dy, lit=lit):  # is the pixel at (x + dx r, y + dy r) lit?
            return lit[int(t.y + dy * t.r), int(t.x + dx * t.r)]

        for t in (a, b):  # a square fills its upper-left corner, a triangle (apex up) does not
            assert at(t, -0.6, -0.6) == (t.shape != "triangle"), t
            if t.shape == "circle":
                assert not at(t, -0.85, -0.85), t
            if t.shape == "triangle":
                assert at(t, 0, 0.4), t


def test_held_out_pairs_never_occur_in_training_draws_and_are_all_of_the_unseen_draws():
    held = held_out_pairs()
    train = draw_scenes(np.random.default_rng(2), 2000, "train")
    seen = draw_scenes(np.random.default_rng(3), 500, "seen")
    for scenes in (train, seen):
        drawn = {p for p in scenes.pairs if p is not None}
        assert drawn and not drawn & held
        assert all({t.type for t in things} not in held for things in scenes.things)
    assert len({p for p in train.pairs if p is not None}) == 66 - 12  # every training pair is drawn
    unseen = draw_scenes(np.random.default_rng(4), 500, "unseen")
    assert set(unseen.pairs) == held  # every held-out pair, in both relations
    assert set(unseen.relations) == {"left of", "above"}
    firsts = {(p, things[0].type) for p, things in zip(unseen.pairs, unseen.things)}
    assert len(firsts) == 2 * len(held)  # and in both orders


def test_a_custom_held_out_set_is_honoured():
    held = [{("red", "circle"), ("blue", "square")}]
    unseen = draw_scenes(np.random.default_rng(5), 20, "unseen", held_out=held)
    assert set(unseen.pairs) == {frozenset(held[0])}
    train = draw_scenes(np.random.default_rng(5), 500, "train", held_out=held)
    assert frozenset(held[0]) not in set(train.pairs)
    assert held_out_pairs() & set(train.pairs)  # the default held-out pairs are training pairs now


def test_the_same_generator_state_gives_the_same_scenes():
    a = draw_scenes(np.random.default_rng(7), 30, "train")
    b = draw_scenes(np.random.default_rng(7), 30, "train")
    c = draw_scenes(np.random.default_rng(8), 30, "train")
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions and a.things == b.things
    assert a.captions != c.captions
    assert a.images.dtype == np.float32 and a.images.shape == (30, 3, 32, 32)
    assert a.images.min() >= 0 and a.images.max() <= 1


def test_other_canvas_sizes():
    scenes = draw_scenes(np.random.default_rng(9), 10, "seen", height=24, width=48)
    assert scenes.images.shape == (10, 3, 24, 48)
    assert all(t.r <= 4 for things in scenes.things for t in things)


def test_vocabulary_encodes_captions_for_the_decoder():
    words_in, words_out, lengths = VOCAB.encode_target([["a", "red", "circle"], ["two", "blue", "squares"]])
    assert words_in.shape == (4, 2) and words_in[0].tolist() == [1, 1]  # BOS
    assert words_out[3].tolist() == [2, 2] and lengths.tolist() == [4, 4]  # EOS
    assert set(COLOURS) | set(SHAPES) <= set(VOCAB.tokens)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"split": "test"}, "split must be one of"),
        ({"height": 10}, "height must be an integer of at least 24"),
        ({"noise": -1.0}, "noise must be"),
        ({"held_out": [{("red", "circle"), ("red", "circle")}]}, "two different"),
        ({"held_out": [{("pink", "circle"), ("red", "square")}]}, "two different"),
        ({"held_out": []}, "empty"),
        ({"held_out": all_pairs()}, "no pair for training"),
    ],
)
def test_bad_arguments_are_refused_with_what_was_expected(kwargs, match):
    args = {"n": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        draw_scenes(np.random.default_rng(0), **args)
    with pytest.raises(ValueError, match="Generator"):
        draw_scenes(0, 3)
