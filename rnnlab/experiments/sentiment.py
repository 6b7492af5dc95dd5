"""Sentiment: many-to-one classification of sentences, an RNN beside bag-of-words.

An embedding and a bidirectional LSTM read the sentence; its final states (both directions) go
to a linear layer with two outputs. Beside it, logistic regression on the bag of words (which
words occur, their order forgotten), trained by the same engine (a Linear layer, cross-entropy,
Adam). Both are read on a held-out split, then on pairs of sentences made of the same words in
another order with opposite meanings ("not good, bad" vs "not bad, good"): bag-of-words gives
both sentences of a pair the same score, so it gets at most one of each pair right.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.sentiment import WordVocab, load_labelled
from ..data.shared import shared_data
from ..models.classifier import ClassifierConfig, SequenceClassifier
from ..models.encoder import EncoderConfig
from ..nn import Linear, cross_entropy
from ..train.checkpoint import load_checkpoint, load_weights_into
from .common import Experiment, Fit, SupervisedTask, accuracy, fit

# (negative, positive): the same words, the order decides. The UCI labels are 0 negative, 1 positive.
ORDER_PAIRS = [
    ("not good, bad", "not bad, good"),
    ("the food was not good, it was bad", "the food was not bad, it was good"),
    ("it was bad, not great", "it was great, not bad"),
    ("this phone is not excellent, it is awful", "this phone is not awful, it is excellent"),
    ("the movie was not fun, it was boring", "the movie was not boring, it was fun"),
    ("the service was not friendly but rude", "the service was not rude but friendly"),
    ("i hated it, i never loved it", "i loved it, i never hated it"),
    ("great price but terrible quality", "terrible price but great quality"),
]


def split(n: int, rng: np.random.Generator, test: float = 0.2, val: float = 0.1):
    """Index arrays (train, validation, test): test share of all, validation share of the rest."""
    order = rng.permutation(n)
    n_test = int(round(test * n))
    n_val = int(round(val * (n - n_test)))
    return order[n_test + n_val:], order[n_test:n_test + n_val], order[:n_test]


def run(ctx):
    quick = ctx.quick
    source = ctx.options.get("tsv") or shared_data("sentiment_labelled_sentences", "--tsv FILE",
                                                   "a tab-separated file of text and label")
    data = load_labelled(source)
    n_classes = len(data.classes)
    rng = np.random.default_rng(ctx.seed)
    train, val, test = split(len(data.texts), rng)
    texts = np.array(data.texts, dtype=object)
    vocab = WordVocab.from_texts(list(texts[train]))
    ids, lengths = vocab.encode(data.texts)
    ctx.say(f"{len(data.texts)} sentences from {len(data.sources)} file(s), {n_classes} classes; "
            f"train {len(train)}, validation {len(val)}, test {len(test)}; {vocab.size} words")
    epoch = max(1, len(train) // 32)
    steps = (8 if quick else 15) * epoch

    def batch_of(idx):
        T = int(lengths[idx].max())
        return ids[:T, idx], lengths[idx]

    # --- the recurrent classifier --------------------------------------------------------------
    config = ClassifierConfig(outputs=n_classes, encoder=EncoderConfig(
        vocab_size=vocab.size, embedding=32, cell="lstm", hidden=16 if quick else 32, bidirectional=True))
    model = SequenceClassifier(config, np.random.default_rng(ctx.seed))

    def rnn_batch(step, rng):
        idx = rng.choice(train, size=32, replace=False)
        x, lens = batch_of(idx)
        return x, lens, data.labels[idx]

    def rnn_scores(model, idx):
        return model.predict(ids[:, idx], lengths[idx])

    def rnn_eval():
        return cross_entropy(rnn_scores(model, val), data.labels[val])[0]

    task = SupervisedTask(model, rnn_batch, lambda s, y: cross_entropy(s, y), rnn_eval,
                          {"model": config.to_json(), "batch": 32, "vocab_size": vocab.size})
    ctx.say("training the bidirectional LSTM")
    result, _ = fit(task, ctx.out.path / "bilstm", Fit(steps=steps, lr=2e-3, clip=1.0, eval_every=epoch,
                                                       progress=ctx.progress, seed=ctx.seed))
    load_weights_into(model, load_checkpoint(ctx.out.path / "bilstm" / "best"))  # the best validation loss
    rnn_test = accuracy(rnn_scores(model, test), data.labels[test])

    # --- bag-of-words logistic regression --------------------------------------------------------
    bags = vocab.bag_of_words(data.texts)
    logreg = Linear(vocab.size, n_classes, rng=np.random.default_rng(ctx.seed))

    def bow_batch(step, rng):
        idx = rng.choice(train, size=32, replace=False)
        return bags[idx], None, data.labels[idx]

    def bow_eval():
        return cross_entropy(logreg.forward(bags[val]), data.labels[val])[0]

    task = SupervisedTask(logreg, bow_batch, lambda s, y: cross_entropy(s, y), bow_eval,
                          {"model": "logistic regression on the bag of words", "vocab_size": vocab.size})
    ctx.say("training bag-of-words logistic regression")
    fit(task, ctx.out.path / "bag-of-words", Fit(steps=steps, lr=1e-2, clip=None, eval_every=epoch,
                                                 progress=ctx.progress, seed=ctx.seed))
    load_weights_into(logreg, load_checkpoint(ctx.out.path / "bag-of-words" / "best"))
    bow_test = accuracy(logreg.forward(bags[test]), data.labels[test])

    # --- the order-sensitive pairs -----------------------------------------------------------------
    pairs = {}
    if data.classes == ["0", "1"]:
        sentences = [s for pair in ORDER_PAIRS for s in pair]
        truth = np.tile([0, 1], len(ORDER_PAIRS))
        pair_ids, pair_lengths = vocab.encode(sentences)
        for name, predicted in (("bilstm", model.predict(pair_ids, pair_lengths).argmax(-1)),
                                ("bag-of-words", logreg.forward(vocab.bag_of_words(sentences)).argmax(-1))):
            right = (predicted == truth).reshape(-1, 2)
            pairs[name] = {"sentences": float(right.mean()), "pairs": float(right.all(axis=1).mean())}
            for (neg, pos), (r_neg, r_pos) in zip(ORDER_PAIRS, right):
                ctx.out.log(event="pair", model=name, negative=neg, positive=pos, negative_right=r_neg,
                            positive_right=r_pos)

    for name, acc in (("bilstm", rnn_test), ("bag-of-words", bow_test)):
        ctx.out.log(event="test", model=name, accuracy=acc, sentences=len(test), **{
            f"pairs_{k}": v for k, v in pairs.get(name, {}).items()})
        ctx.say(f"{name}: test accuracy {100 * acc:.1f}%" + (
            f"; order pairs: {100 * pairs[name]['pairs']:.0f}% both right" if pairs else ""))

    with ctx.out.figure("sentiment") as plot:
        if plot is not None:
            fig, ax = plot
            names = ["bilstm", "bag-of-words"]
            ax.bar(np.arange(2) - 0.2, [100 * rnn_test, 100 * bow_test], 0.4, label="held-out sentences")
            if pairs:
                ax.bar(np.arange(2) + 0.2, [100 * pairs[k]["pairs"] for k in names], 0.4,
                       label="order pairs, both right")
            ax.set_xticks(range(2), ["bidirectional LSTM", "bag-of-words logistic regression"])
            ax.set_ylabel("%")
            ax.legend()

    summary = {"test_accuracy": {"bilstm": rnn_test, "bag-of-words": bow_test}, "order_pairs": pairs,
               "sentences": len(data.texts), "steps": result.steps, "target_met": None,
               "result": f"test accuracy BiLSTM {100 * rnn_test:.1f}%, bag-of-words {100 * bow_test:.1f}%"
                         + (f"; order pairs both right: BiLSTM {100 * pairs['bilstm']['pairs']:.0f}%, "
                            f"bag-of-words {100 * pairs['bag-of-words']['pairs']:.0f}%" if pairs else "")}
    lines = [f"{len(data.texts)} sentences ({', '.join(Path(s).name for s in data.sources)}); "
             f"test split {len(test)}; {steps} steps of batch 32 each, the best validation checkpoint kept.", "",
             "| model | held-out accuracy | order pairs: both right | order sentences right |", "|---|---|---|---|",
             *(f"| {name} | {100 * acc:.1f}% | " + (f"{100 * pairs[key]['pairs']:.0f}% | "
                                                   f"{100 * pairs[key]['sentences']:.0f}% |" if pairs else "- | - |")
               for name, key, acc in (("BiLSTM", "bilstm", rnn_test), ("bag-of-words", "bag-of-words", bow_test)))]
    if pairs:
        lines += ["", f"{len(ORDER_PAIRS)} order pairs, e.g. {ORDER_PAIRS[0][0]!r} (negative) vs "
                  f"{ORDER_PAIRS[0][1]!r} (positive): bag-of-words scores both alike."]
    return summary, lines


EXPERIMENT = Experiment(
    name="sentiment",
    title="UCI sentiment sentences: embedding + BiLSTM vs bag-of-words logistic regression, order pairs",
    anchor="the lectures: word order matters ('not good, bad' vs 'not bad, good'); bag-of-words must fail the pairs",
    options=("tsv",), run=run)
