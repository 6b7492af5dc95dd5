"""Image captioning, the lectures' one-to-many example: rendered scenes of one or two coloured
shapes, captioned word by word by a CNN + LSTM, without and with attention over the CNN's grid.

Data: rnnlab.data.scenes, 32 x 32 RGB canvases drawn on the fly ("a red circle left of a blue
square", "two green triangles", ...). 12 of the 66 pairs of (colour, shape) types never occur
in training, in any order or relation. Two test sets of 1000 scenes, both of two different
shapes: (i) "seen": new scenes of training pairs; (ii) "unseen": scenes of the held-out pairs
only. Validation (500 scenes of training pairs, teacher-forced loss) picks each model's best
checkpoint; the unseen pairs are never looked at before the test.

Models (rnnlab.models.caption): the same CNN (3 conv blocks, 16/32/32 channels, an 8 x 8 grid)
and LSTM decoder (128 units), the image reaching the decoder as (1) a global vector only, a
Linear of the flattened grid, which sets the initial state and is fed at every step ("global"),
or (2) that and additive attention over the 64 grid positions at every word ("attention", Xu et
al. 2015). Both trained with teacher forcing, Adam,
a --minutes budget each; greedy decoding at test time. Reported: exact match (whole caption)
and per-word accuracy on both test sets; examples.png (scenes with each model's caption) and
attention.png (where the attention model looks for each word of one unseen scene).
"""

from __future__ import annotations

import time

import numpy as np

from ..data.scenes import VOCAB, draw_scenes, held_out_pairs
from ..models.caption import CaptionConfig, Captioner
from ..models.metrics import exact_match, token_accuracy
from ..nn import cross_entropy
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import MINUTES, Experiment, Fit, SupervisedTask, fit

VARIANTS = ("global", "attention")
MARK = {True: "\u2713", False: "\u2717"}  # right, wrong
MAX_LEN = 12  # greedy decoding stops here at the latest (captions have at most 8 words)


class CaptionTask(SupervisedTask):
    """A Task for rnnlab.train.Trainer: a fresh batch of training scenes every step, cross-entropy
    masked over the padded words, teacher forcing; evaluate() -> score (lower is better)."""

    def __init__(self, model: Captioner, batch: int, evaluate, config: dict | None = None):
        super().__init__(model, batch=None, loss=None, evaluate=evaluate, config=config)
        self.batch = batch

    def train_step(self, step: int, rng: np.random.Generator) -> float:
        scenes = draw_scenes(rng, self.batch, "train", height=self.model.config.height, width=self.model.config.width)
        words_in, words_out, lengths = VOCAB.encode_target(scenes.captions)
        logits = self.model.forward(scenes.images, words_in)
        mask = np.arange(words_in.shape[0])[:, None] < lengths[None, :]
        loss, dlogits = cross_entropy(logits, words_out, mask=mask)
        self.model.backward(dlogits)
        return loss

    def config(self) -> dict:
        return {"caption": {"model": self.model.config.to_json(), "vocab": VOCAB.to_json()}, "batch": self.batch}


def caption_loss(model: Captioner, scenes, batch: int = 250) -> float:
    """Teacher-forced cross-entropy per word (nats), EOS included."""
    total = count = 0.0
    for k in range(0, len(scenes), batch):
        words_in, words_out, lengths = VOCAB.encode_target(scenes.captions[k : k + batch])
        mask = np.arange(words_in.shape[0])[:, None] < lengths[None, :]
        loss, _ = cross_entropy(model.forward(scenes.images[k : k + batch], words_in), words_out, mask=mask)
        total += loss * mask.sum()
        count += mask.sum()
    return total / count


def captions_of(model: Captioner, images) -> tuple[list[list[str]], list]:
    ids, maps = model.greedy(images, max_len=MAX_LEN)
    return [VOCAB.decode(seq) for seq in ids], maps


def _examples_figure(ctx, sets, outputs):
    """Scenes (4 seen, 4 unseen) with the truth and each model's caption, marked right or wrong."""
    with ctx.out.figure("examples", nrows=2, ncols=4, figsize=(13, 8)) as plot:
        if plot is None:
            return
        fig, axes = plot
        for row, name in enumerate(("seen", "unseen")):
            scenes = sets[name]
            for col in range(4):
                ax = axes[row, col]
                ax.imshow(scenes.images[col].transpose(1, 2, 0), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                truth = " ".join(scenes.captions[col])
                ax.set_title(f"{name} pair\ntruth: {truth}", fontsize=8)
                lines = []
                for variant in VARIANTS:
                    said = " ".join(outputs[variant][name][col])
                    lines.append(f"{MARK[said == truth]} {variant}: {said}")
                ax.set_xlabel("\n".join(lines), fontsize=8)
        fig.suptitle(
            "captions of held-out scenes (top: pairs seen in training; bottom: pairs never seen in training)",
            fontsize=9,
        )


def _attention_figure(ctx, image, words, maps):
    """The scene and, for each word it wrote (and EOS), where the attention model looked."""
    panels = len(words) + 2
    with ctx.out.figure("attention", ncols=panels, figsize=(1.9 * panels, 2.5)) as plot:
        if plot is None:
            return
        fig, axes = plot
        H, W = image.shape[1:]
        picture = image.transpose(1, 2, 0)
        axes[0].imshow(picture, interpolation="nearest")
        axes[0].set_title("scene", fontsize=8)
        for k, (ax, word) in enumerate(zip(axes[1:], list(words) + ["<eos>"])):
            w = maps[k]
            big = np.kron(w / w.max(), np.ones((H // w.shape[0], W // w.shape[1])))
            ax.imshow(picture * (0.25 + 0.75 * big[:, :, None]), interpolation="nearest")
            ax.imshow(big, cmap="magma", alpha=0.35, interpolation="nearest")
            ax.set_title(f"{word}\nmax {w.max():.2f}", fontsize=8)
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle("where the attention model looks (8 x 8 grid) before writing each word", fontsize=9)


def run(ctx):
    quick = ctx.quick
    seed = ctx.seed
    n_val, n_test = (100, 200) if quick else (500, 1000)
    val = draw_scenes(np.random.default_rng([seed, 1]), n_val, "seen")
    sets = {
        "seen": draw_scenes(np.random.default_rng([seed, 2]), n_test, "seen"),
        "unseen": draw_scenes(np.random.default_rng([seed, 3]), n_test, "unseen"),
    }
    held = held_out_pairs()
    ctx.say(
        f"scenes 32 x 32; {66 - len(held)} pairs of (colour, shape) types in training, {len(held)} held out; "
        f"test {n_test} scenes of training pairs and {n_test} of held-out pairs"
    )
    batch = 32
    minutes = ctx.options.get("minutes") or (None if quick else 4.5)
    how = Fit(
        steps=150 if quick else None,
        minutes=minutes,
        lr=4e-3,
        clip=5.0,
        eval_every=75 if quick else 250,
        final_eval=True,
        progress=ctx.progress,
        seed=seed,
        score_name="validation loss",
    )
    results, outputs, models = {}, {}, {}
    for variant in VARIANTS:
        config = CaptionConfig(
            vocab=VOCAB.size,
            channels=(8, 16, 16) if quick else (16, 32, 32),
            embedding=16 if quick else 32,
            hidden=48 if quick else 128,
            attention="additive" if variant == "attention" else None,
            attention_size=16 if quick else 32,
        )
        model = Captioner(config, np.random.default_rng(seed))
        task = CaptionTask(
            model, batch, lambda m=model: caption_loss(m, val), {"experiment": "caption", "variant": variant}
        )
        n_params = sum(p.data.size for p in model.parameters())
        ctx.say(
            f"training {variant}: CNN {'/'.join(map(str, config.channels))} channels, LSTM {config.hidden}"
            f"{', additive attention over the 8 x 8 grid' if config.attention else ''}; {n_params} parameters"
        )
        started = time.perf_counter()
        result, scores = fit(task, ctx.out.path / variant, how)
        seconds = time.perf_counter() - started
        if (ctx.out.path / variant / "best").is_dir():
            load_weights_into(model, load_checkpoint(ctx.out.path / variant / "best"))
        model.eval()
        models[variant] = model
        info = {
            "steps": result.steps,
            "seconds": round(seconds, 1),
            "stop_reason": result.stop_reason,
            "parameters": n_params,
            "validation_loss": [[int(k), float(v)] for k, v in scores],
        }
        ctx.out.log(event="trained", model=variant, **{k: v for k, v in info.items() if k != "validation_loss"})
        outputs[variant] = {}
        for name, scenes in sets.items():
            said, _ = captions_of(model, scenes.images)
            outputs[variant][name] = said
            em, acc = exact_match(said, scenes.captions), token_accuracy(said, scenes.captions)
            info[name] = {"exact_match": em, "word_accuracy": acc}
            ctx.out.log(event="test", model=variant, split=name, scenes=len(scenes), exact_match=em, word_accuracy=acc)
            ctx.say(f"  {variant}, {name} pairs: exact match {100 * em:.2f}%, per-word accuracy {100 * acc:.2f}%")
        results[variant] = info

    for k in range(4):  # the first scenes of each test set, as the figure shows them
        ctx.out.log(
            event="example",
            **{f"{name}_truth": " ".join(sets[name].captions[k]) for name in sets},
            **{f"{name}_{v}": " ".join(outputs[v][name][k]) for name in sets for v in VARIANTS},
        )
    _examples_figure(ctx, sets, outputs)
    image = sets["unseen"].images[:1]
    words, maps = captions_of(models["attention"], image)
    _attention_figure(ctx, image[0], words[0], maps[0])
    ctx.out.log(event="attention_example", truth=" ".join(sets["unseen"].captions[0]), caption=" ".join(words[0]))

    unseen = {v: results[v]["unseen"]["exact_match"] for v in VARIANTS}
    target_met = None if quick else bool(max(unseen.values()) >= 0.95)
    table = [
        "| model | seen pairs: exact | per-word | unseen pairs: exact | per-word | steps | training time |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        r = results[v]
        table.append(
            f"| {v} | {100 * r['seen']['exact_match']:.2f}% | {100 * r['seen']['word_accuracy']:.2f}% | "
            f"{100 * r['unseen']['exact_match']:.2f}% | {100 * r['unseen']['word_accuracy']:.2f}% | "
            f"{r['steps']} | {r['seconds']} s |"
        )
    summary = {
        "models": results,
        "held_out_pairs": sorted(" + ".join(" ".join(t) for t in sorted(p)) for p in held),
        "test_scenes": n_test,
        "target_met": target_met,
        "result": "exact match on scenes of pairs never seen in training: "
        + ", ".join(f"{v} {100 * unseen[v]:.2f}%" for v in VARIANTS)
        + "; on new scenes of training pairs: "
        + ", ".join(f"{v} {100 * results[v]['seen']['exact_match']:.2f}%" for v in VARIANTS),
    }
    lines = [
        f"Scenes of two different shapes, {n_test} per test set: pairs of (colour, shape) seen in training, "
        f"and the {len(held)} pairs held out of training entirely; greedy decoding, best validation "
        "checkpoint (validation: training pairs only).",
        "",
        *table,
        "",
    ]
    if target_met is not None:
        lines.append(
            "Target (>= 95% exact match on the held-out pairs, at least one model): "
            + ("met." if target_met else "not met.")
        )
    return summary, lines


EXPERIMENT = Experiment(
    name="caption",
    title="image captioning of rendered shapes: CNN + LSTM, without and with attention over the grid, "
    "tested on pairs of shapes never seen together",
    anchor="the MIT lecture's one-to-many example; Vinyals et al. 2015 (Show and Tell), Xu et al. 2015 "
    "(Show, Attend and Tell): target >= 95% exact match on held-out combinations",
    options=(MINUTES,),
    run=run,
)
