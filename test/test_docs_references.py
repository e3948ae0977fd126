# Copyright 2026 The lfn2_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every ``docs/<file>.md#<section>`` reference resolves, and nothing cites design notes outside the repo.

Anchors are computed from the markdown headings with GitHub's rule (lowercase, punctuation removed,
spaces to '-', a '-N' suffix for repeated headings). Pure text processing: no torch, no ROS.
"""

import re
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / 'docs'
SCANNED = ('lfn2_ros', 'test', 'benchmarks', 'scripts', 'docs', 'launch', 'config', 'lfn2_msgs',
           'README.md', 'Makefile')
SKIPPED_DIRS = {'__pycache__', 'weights'}
TEXT_SUFFIXES = {'.py', '.h', '.hpp', '.cpp', '.cu', '.cuh', '.md', '.sh', '.txt', '.cfg', '.toml', '.ini',
                 '.yaml', '.yml', '.msg', '.xml', ''}
# Design notes that live outside the repository; code must cite docs/ instead. Split so that this
# file does not match itself.
EXTERNAL_NAMES = tuple(name + '.md' for name in ('LITEFLOWNET2', 'CONTRACTS', 'style', 'ros_conventions',
                                                 'cpu_performance'))

REFERENCE = re.compile(r'docs/([A-Za-z0-9_.-]+?)\.md(?:#([A-Za-z0-9_-]+))?')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
FENCE = re.compile(r'^\s*(```|~~~)')
LOCAL_LINK = re.compile(r'\]\((?:([A-Za-z0-9_-]+)\.md)?#([A-Za-z0-9_-]+)\)')


def slug(heading: str) -> str:
    """GitHub's anchor of a heading text (before de-duplication)."""
    text = re.sub(r'`([^`]*)`', r'\1', heading)            # inline code keeps its text
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)   # links keep their text
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)                   # drop punctuation (keeps letters, digits, _ and -)
    return text.replace(' ', '-')


@cache
def anchors(doc: Path) -> frozenset:
    """Anchors of every heading of ``doc`` outside code fences."""
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in doc.read_text(encoding='utf-8').splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f'{base}-{count}')
    return frozenset(result)


def scanned_files() -> list[Path]:
    files = []
    for name in SCANNED:
        root = REPO / name
        paths = [root] if root.is_file() else sorted(root.rglob('*')) if root.is_dir() else []
        for path in paths:
            rel = path.relative_to(REPO)
            if not path.is_file() or SKIPPED_DIRS & set(rel.parts) or path.suffix not in TEXT_SUFFIXES:
                continue
            files.append(path)
    return files


def read(path: Path) -> str:
    try:
        return path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        return ''


def line_of(text: str, pos: int) -> int:
    return text.count('\n', 0, pos) + 1


def test_slug_follows_github():
    assert slug('Input size rule') == 'input-size-rule'
    assert slug('Warp and the 0.9999 mask') == 'warp-and-the-09999-mask'
    assert slug('`ops.correlation`: backend selection') == 'opscorrelation-backend-selection'
    assert slug('Sub-pixel unit NetS') == 'sub-pixel-unit-nets'
    assert slug('flow_div (20)') == 'flow_div-20'


def test_docs_exist():
    for name in ('architecture', 'model', 'node', 'extension'):
        doc = DOCS / f'{name}.md'
        assert doc.is_file(), f'{doc.relative_to(REPO)} is missing'
        assert anchors(doc), f'{doc.relative_to(REPO)} has no headings'


def test_files_are_scanned():
    files = {p.relative_to(REPO).as_posix() for p in scanned_files()}
    assert 'lfn2_ros/model/upsample.py' in files and 'lfn2_ros/ops/csrc/correlation_index.h' in files
    assert 'test/data/mmflow_keys/README.md' in files and 'README.md' in files


def test_every_docs_reference_resolves():
    problems = []
    count = 0
    for path in scanned_files():
        text = read(path)
        for match in REFERENCE.finditer(text):
            count += 1
            name, anchor = match.group(1), match.group(2)
            where = f'{path.relative_to(REPO)}:{line_of(text, match.start())}'
            doc = DOCS / f'{name}.md'
            if not doc.is_file():
                problems.append(f'{where}: docs/{name}.md does not exist')
            elif anchor is not None and anchor not in anchors(doc):
                problems.append(f'{where}: docs/{name}.md has no section #{anchor} '
                                f'(sections: {", ".join(sorted(anchors(doc)))})')
    assert count > 0, 'no docs/ references found at all: is the scan broken?'
    assert not problems, '\n'.join(problems)


def test_links_inside_docs_resolve():
    problems = []
    for doc in sorted(DOCS.glob('*.md')):
        text = read(doc)
        for match in LOCAL_LINK.finditer(text):
            target = DOCS / f'{match.group(1)}.md' if match.group(1) else doc
            where = f'{doc.relative_to(REPO)}:{line_of(text, match.start())}'
            if not target.is_file():
                problems.append(f'{where}: {target.name} does not exist')
            elif match.group(2) not in anchors(target):
                problems.append(f'{where}: {target.name} has no section #{match.group(2)}')
    assert not problems, '\n'.join(problems)


def _occurrences(pattern: re.Pattern, *, skip_markdown: bool = False) -> list[str]:
    """``path:line: match`` of every match of ``pattern`` in the scanned files (this file excluded)."""
    this_file = Path(__file__).resolve()
    found = []
    for path in scanned_files():
        if path.resolve() == this_file or (skip_markdown and path.suffix == '.md'):
            continue
        text = read(path)
        found += [f'{path.relative_to(REPO)}:{line_of(text, m.start())}: {m.group(0)}'
                  for m in pattern.finditer(text)]
    return found


@pytest.mark.parametrize('name', EXTERNAL_NAMES)
def test_no_citation_of_notes_outside_the_repo(name):
    offenders = _occurrences(re.compile(re.escape(name)))
    assert not offenders, f'{name} is not in the repository; cite docs/<file>.md#<section>: {offenders}'


SECTION_OF_AN_OUTSIDE_NOTE = re.compile(r'\bspec\s*§|§\s*\d|\bspec \d+(\.\d+)*\b|\bissue \d+\b',
                                        re.IGNORECASE)


def test_no_section_numbers_of_outside_notes():
    """'spec §8', 'spec 4.1' or 'issue 7' point at texts a reader of the repository cannot open."""
    # The README and docs may name issues in prose; code comments cite docs/.
    offenders = _occurrences(SECTION_OF_AN_OUTSIDE_NOTE, skip_markdown=True)
    assert not offenders, offenders
