"""Example files for `rnnlab fit`, one per task, written the way a person's own files look.

    python -m rnnlab.data.examples DIR [--sentiment FOLDER]

writes into DIR:
    numbers.tsv     seq2seq: number words TAB digits, 0..9,999 ("three hundred and forty-two" -> "342"),
                    shuffled (seed 0), every number once
    monthly.csv     forecast: month,value: 12 years of a monthly series with trend, yearly season and
                    noise (rnnlab.data.timeseries.monthly_example)
    tags.conll      tag: part-of-speech tags of generated sentences in which "book", "watch",
                    "run", "play" and "fish" are nouns or verbs by their neighbours (token TAB tag
                    per line, a blank line between sentences)
    reviews.csv     classify: the UCI "Sentiment Labelled Sentences" (Kotzias et al. 2015) as a CSV
                    with a header and string labels, when --sentiment names their folder
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from .sentiment import load_labelled
from .seq2seq import number_pairs
from .timeseries import monthly_example, write_series_csv

# A small grammar: each word with its tags; the five ambiguous words take their tag from context.
PRONOUNS = ("i", "we", "they", "you")
DETERMINERS = ("the", "a", "this", "my")
ADJECTIVES = ("big", "old", "red", "quiet", "new")
NOUNS = ("dog", "park", "river", "friend", "table", "garden")
AMBIGUOUS = ("book", "watch", "run", "play", "fish")  # NOUN after a determiner or adjective, else VERB
VERBS_3RD = ("sees", "likes", "finds", "wants")
PREPOSITIONS = ("in", "near", "on", "by")
ADVERBS = ("today", "often", "again")


def pos_sentences(n: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]]]:
    """n sentences of the grammar above with their tags (PRON DET ADJ NOUN VERB PART ADP ADV PUNCT)."""
    rng = np.random.default_rng(seed)

    def pick(words):
        return str(words[rng.integers(len(words))])

    def noun_phrase():
        words = [(pick(DETERMINERS), "DET")]
        if rng.random() < 0.4:
            words.append((pick(ADJECTIVES), "ADJ"))
        words.append((pick(NOUNS + AMBIGUOUS), "NOUN"))
        return words

    sentences, tags = [], []
    for _ in range(n):
        if rng.random() < 0.5:  # PRON VERB NP, or PRON VERB to VERB
            words = [(pick(PRONOUNS), "PRON"), (pick(AMBIGUOUS), "VERB")]
            words += noun_phrase() if rng.random() < 0.7 else [("to", "PART"), (pick(AMBIGUOUS), "VERB")]
        else:  # NP VERB-s NP
            words = noun_phrase() + [(pick(VERBS_3RD), "VERB")] + noun_phrase()
        if rng.random() < 0.4:
            words += [(pick(PREPOSITIONS), "ADP")] + noun_phrase()
        if rng.random() < 0.3:
            words.append((pick(ADVERBS), "ADV"))
        words.append((".", "PUNCT"))
        sentences.append([w for w, _ in words])
        tags.append([t for _, t in words])
    return sentences, tags


def write_conll(path, sentences: list[list[str]], tags: list[list[str]]) -> None:
    """token TAB tag per line, a blank line after each sentence."""
    lines = []
    for words, labels in zip(sentences, tags):
        lines += [f"{w}\t{t}" for w, t in zip(words, labels)] + [""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")


def write_number_pairs(path, limit: int = 10_000, seed: int = 0) -> None:
    """Every number below `limit` once, shuffled: words TAB digits."""
    order = np.random.default_rng(seed).permutation(limit)
    rows = number_pairs([int(k) for k in order])
    Path(path).write_text("".join(f"{words}\t{digits}\n" for words, digits in rows), encoding="utf-8")


def write_sentiment_csv(path, folder) -> None:
    """The UCI sentences as `sentence,sentiment` with labels "negative"/"positive"."""
    data = load_labelled(folder)
    names = {"0": "negative", "1": "positive"}
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sentence", "sentiment"])
        writer.writerows((text, names[data.classes[k]]) for text, k in zip(data.texts, data.labels))


def write_examples(folder, sentiment=None) -> list[Path]:
    """Every example file into `folder`; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_number_pairs(folder / "numbers.tsv")
    stamps, values = monthly_example()
    write_series_csv(folder / "monthly.csv", stamps, values, ["month", "value"])
    write_conll(folder / "tags.conll", *pos_sentences(600))
    written = [folder / "numbers.tsv", folder / "monthly.csv", folder / "tags.conll"]
    if sentiment is not None:
        write_sentiment_csv(folder / "reviews.csv", sentiment)
        written.append(folder / "reviews.csv")
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m rnnlab.data.examples", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where the files go")
    parser.add_argument("--sentiment", metavar="FOLDER", help="the unzipped sentiment_labelled_sentences folder")
    args = parser.parse_args()
    for path in write_examples(args.folder, args.sentiment):
        print(path)
