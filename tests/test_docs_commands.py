"""Every `rnnlab ...` command written in README.md and docs/*.md names commands and options that
exist: the fenced blocks are read line by line, the subcommands walked down the real parser, and
each --option looked up in the parser it belongs to."""

import argparse
import re
from pathlib import Path

import pytest

from rnnlab import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def commands(page: Path) -> list[tuple[int, str]]:
    """(line number, text after `rnnlab`) of every command in the page's fenced blocks."""
    found, fenced = [], False
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.search(r"(?:^|\$ |\| |&& |\.venv/bin/)rnnlab (.*)", line) if fenced else None
        if match:
            found.append((number, match.group(1).split(" #")[0]))
    return found


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices if actions else {}


CASES = [(page, number, text) for page in PAGES for number, text in commands(page)]


def test_the_pages_hold_commands_to_check():
    assert len(CASES) >= 30 and any(p.name == "README.md" for p, _, _ in CASES)


@pytest.mark.parametrize("page, number, text", CASES, ids=[f"{p.name}:{n}" for p, n, _ in CASES])
def test_every_documented_command_and_option_exists(page, number, text):
    parser, words = cli.parser(), text.split()
    path, parsers = ["rnnlab"], None
    while words and subparsers(parser):
        if words[0] in subparsers(parser):
            parser = subparsers(parser)[words[0]]
            path.append(words.pop(0))
        elif words[0].isupper():  # a placeholder (`rnnlab fit TASK ...`): any of its commands' options
            parsers = list(subparsers(parser).values())
            break
        else:
            break
    assert len(path) > 1, f"{page.name}:{number}: {text!r} names no rnnlab command"
    known = {s for p in parsers or [parser] for a in p._actions for s in a.option_strings}
    options = {o.split("=")[0] for o in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)}
    assert options <= known, f"{page.name}:{number}: {' '.join(path)} has no {sorted(options - known)}"
