"""Sheet music as characters: the ABC folk tunes that music21 ships, tunes cut from a text, and
music21 as the judge of whether a tune is music (and the maker of its MIDI file).

    text = builtin_corpus("abc-folk")         # every tune of music21's corpus (rnnlab.data.text)
    tunes = split_tunes(sample, complete=True)  # the tunes a sampled text finishes
    abc_parse_rate(tunes)                     # the share that music21 reads as notes
    tune, midi = first_parsable_tune(sample)  # the first that does, and its Standard MIDI File

A tune runs from its `X:` line to the next blank line (rnnlab.data.text, where split_tunes and
the corpus live, says more). music21 is imported only when a tune is parsed; without it, parse_abc
and all built on it raise a DataError that says how to install it: `pip install -e ".[music]"` in a
clone of rnnlab.

music21 10.5.1 reads all of a sample of the corpus's own tunes (325, every 40th) and writes each
as MIDI once two quirks of its MIDI writer are worked around (_unshare, _drop_repeats).
"""

from __future__ import annotations

import contextlib
import io
import warnings

from .text import INSTALL_HINT, DataError, split_tunes

__all__ = ["abc_midi", "abc_parse_rate", "first_parsable_tune", "parse_abc", "require_music21", "split_tunes"]

# --- music21 as the judge ----------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    """music21's remarks on a tune (Python warnings, and lines it writes to stderr itself, such as
    "Could not get pitch information from note") kept from the person at the terminal: a tune
    either parses or it does not, and the caller says which."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def require_music21():
    """The music21 module, or a DataError that says how to install it."""
    try:
        import music21
    except ImportError:
        raise DataError("music21", f"is needed to read ABC as music; {INSTALL_HINT}") from None
    return music21


def parse_abc(tune: str):
    """The music21 Score of one ABC tune, or a ValueError if music21 cannot read it or finds no
    note in it (music21's own message, one line, after "does not parse as ABC:")."""
    music21 = require_music21()
    try:
        with _quiet():
            score = music21.converter.parse(tune, format="abc")
        notes = len(score.flatten().notes)
    except Exception as err:  # music21 raises anything from ABCHandlerException to ZeroDivisionError
        first = (str(err).splitlines() or [""])[0][:120]
        raise ValueError(f"does not parse as ABC: {type(err).__name__}: {first}") from None
    if not notes:
        raise ValueError("does not parse as ABC: music21 finds no notes in it")
    return score


def _unshare(score) -> None:
    """Give each measure its own copy of an element that music21's ABC reader put into several
    (it does so with the time signature of tunes whose lines start with a partial bar, as many
    of the Essen songs' do; music21's MIDI writer then fails on the second insertion)."""
    import copy

    seen, shared = set(), []
    for element in score.recurse():
        if not element.isStream:
            if id(element) in seen:
                shared.append((element.activeSite, element))
            seen.add(id(element))
    for site, element in shared:
        site.replace(element, copy.deepcopy(element))


def _drop_repeats(score) -> None:
    """Repeat signs and first/second-time bars made plain, for a tune whose repeats do not pair
    up (music21 cannot unfold them for MIDI): such a tune is then played once through."""
    music21 = require_music21()
    for measure in score.recurse().getElementsByClass(music21.stream.Measure):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), music21.bar.Repeat):
                setattr(measure, side, music21.bar.Barline())
    for bracket in list(score.recurse().getElementsByClass(music21.spanner.RepeatBracket)):
        bracket.activeSite.remove(bracket)


def abc_midi(tune: str) -> bytes:
    """A Standard MIDI File of one ABC tune, written by music21 with its repeats unfolded (played
    once through if they do not pair up); a ValueError as parse_abc's if it cannot be written."""
    music21 = require_music21()
    score = parse_abc(tune)
    try:
        _unshare(score)
        with _quiet():
            try:
                midi = music21.midi.translate.music21ObjectToMidiFile(score)
            except music21.repeat.ExpanderException:
                _drop_repeats(score)
                midi = music21.midi.translate.music21ObjectToMidiFile(score)
            return bytes(midi.writestr())
    except Exception as err:  # music21's MIDI writer, like its reader, raises many kinds
        raise ValueError(f"parses as ABC but not into MIDI: {type(err).__name__}: {err}") from None


def abc_parse_rate(texts) -> float:
    """The share of `texts`, one ABC tune each, that parse_abc reads as music (an empty text, a
    sample with no complete tune, counts as one that does not)."""
    texts = list(texts)
    if not texts:
        raise ValueError("abc_parse_rate needs at least one tune")
    parsed = 0
    for text in texts:
        try:
            parse_abc(text)
        except ValueError:
            continue
        parsed += 1
    return parsed / len(texts)


def first_parsable_tune(text: str, source: str = "the text") -> tuple[str, bytes]:
    """The first complete tune of `text` (split_tunes(text, complete=True)) that music21 parses
    and writes as MIDI, with its MIDI bytes; if none does, a ValueError naming `source` and
    saying how many complete tunes it holds."""
    require_music21()
    tunes = split_tunes(text, complete=True)
    for tune in tunes:
        try:
            return tune, abc_midi(tune)
        except ValueError:
            continue
    found = (
        f"none of the {len(tunes)} complete tunes in {source} parses as ABC"
        if tunes
        else f"{source} holds no complete tune (an X: line, the tune, then a blank line)"
    )
    raise ValueError(f"no MIDI written: {found}; try another --seed or a longer --length")
