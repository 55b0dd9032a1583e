# Copyright (c) mmcast contributors. All rights reserved.
"""Every reference of the documentation resolves inside the repository,
and every command in README and docs either names the test that runs it
(at toy scale) or says what it needs that the repository cannot ship."""
import glob
import os.path as osp
import re

import pytest

from tests.conftest import ROOT

DOCS = [osp.join(ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(ROOT, 'docs', '*.md')))
SOURCES = DOCS + sorted(
    glob.glob(osp.join(ROOT, 'tests', 'data', 'release', '*.md')) +
    glob.glob(osp.join(ROOT, 'mmcast', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True) +
    glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True))

LINK = re.compile(r'\]\(([^)\s]+)\)')
REPO_PATH = re.compile(
    r'`((?:configs|tools|mmcast|tests|docs|requirements)/[^`\s]*)`')
MD_NAME = re.compile(r'(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.md)\b')
MARKER = re.compile(r'#\s*(needs|toy scale|tested by)\b', re.I)
TEST_REF = re.compile(r'(tests/[\w/]+\.py)(?:::(\w+))?')
COMMAND = re.compile(
    r'^(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/python|python|bash|pip|mim)\s')


def rel(path):
    return osp.relpath(path, ROOT)


def slug(title):
    """GitHub's anchor of a heading."""
    title = re.sub(r'[^\w\- ]', '', title.strip().lower())
    return title.replace(' ', '-')


def anchors(path):
    with open(path) as f:
        return {slug(m.group(1)) for m in
                re.finditer(r'^#+\s+(.*)$', f.read(), re.M)}


def code_blocks(text):
    """``(language, lines)`` of every fenced block."""
    return [(m.group(1), m.group(2).splitlines())
            for m in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.M | re.S)]


@pytest.mark.parametrize('doc', DOCS, ids=rel)
def test_links_resolve(doc):
    text = open(doc).read()
    for target in LINK.findall(text):
        if re.match(r'[a-z]+://|mailto:', target):
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(osp.join(osp.dirname(doc), path)) if path \
            else doc
        assert osp.exists(full), f'{rel(doc)}: {target} does not exist'
        if anchor and full.endswith('.md'):
            assert anchor in anchors(full), \
                f'{rel(doc)}: no heading #{anchor} in {rel(full)}'


@pytest.mark.parametrize('source', SOURCES, ids=rel)
def test_cited_files_exist(source):
    """Repository paths in backticks, and every ``*.md`` a document or a
    comment cites (no citation of a file outside the repository)."""
    text = open(source).read()
    for path in REPO_PATH.findall(text):
        path = path.rstrip('.,:;)').split('::')[0]
        if any(c in path for c in '*<>{}[]') or not path:
            continue
        assert osp.exists(osp.join(ROOT, path)), \
            f'{rel(source)} cites {path}, which is not in the repository'
    for name in MD_NAME.findall(text):
        candidates = [osp.join(osp.dirname(source), name),
                      osp.join(ROOT, name), osp.join(ROOT, 'docs', name)]
        assert any(osp.exists(c) for c in candidates), \
            f'{rel(source)} cites {name}, which is not in the repository'


def command_lines(lines):
    """Indices of the lines that start a command (continuations joined)."""
    out, continued = [], False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not continued and COMMAND.match(stripped):
            out.append(i)
        continued = stripped.endswith('\\')
    return out


@pytest.mark.parametrize('doc', DOCS, ids=rel)
def test_every_command_is_tested_or_says_what_it_needs(doc):
    """A marker covers the commands after it up to the next blank line."""
    for lang, lines in code_blocks(open(doc).read()):
        if lang not in ('', 'bash', 'shell', 'sh'):
            continue
        last_marker = None
        for i, line in enumerate(lines):
            if not line.strip():  # a blank line starts a new group
                last_marker = None
            if MARKER.search(line):
                last_marker = i
            if i in command_lines(lines):
                assert last_marker is not None, (
                    f'{rel(doc)}: "{line.strip()}" has no "# needs:" or '
                    '"# toy scale:" / "# tested by:" comment before it')
        for line in lines:
            if not MARKER.search(line):
                continue
            for path, name in TEST_REF.findall(line):
                full = osp.join(ROOT, path)
                assert osp.isfile(full), f'{rel(doc)}: no {path}'
                if name:
                    assert re.search(rf'^def {name}\(', open(full).read(),
                                     re.M), f'{rel(doc)}: no {path}::{name}'


def test_the_checks_can_fail(tmp_path):
    """The checks above catch what they are for."""
    assert MD_NAME.findall('facts in CAST.md, section 4') == ['CAST.md']
    assert command_lines(['python tools/train.py x \\', '  --y', 'ls',
                          'OMP_NUM_THREADS=1 bash tools/dist_train.sh']) \
        == [0, 3]
    assert slug('Output structure (`out_type=\'raw\'`)') == \
        'output-structure-out_typeraw'
