"""The corpus against its sources: code titles, docs/sources.md, and no reference outside the repository."""

from __future__ import annotations

import re

from mtus_dsl.catalogue import code_titles, source_tags
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler import parser

from .conftest import ROOT

_GUIDELINES = sorted((ROOT / "guidelines").rglob("*.mtus"))

# Every code pattern of the corpus with its official title: ICD-9-CM (the final,
# 2014 tabular list) and ICD-10-CM. A reviewer checks this list against the
# tabular lists; the test checks that the corpus uses exactly these patterns
# and gives each the same title in its `# CODE = title` comment, so a code
# cannot be added, dropped or relabelled in one place only.
OFFICIAL_TITLES = {
    # ICD-9-CM
    "729.1": "Myalgia and myositis, unspecified",
    "729.2": "Neuralgia, neuritis, and radiculitis, unspecified",
    "724.4": "Thoracic or lumbosacral neuritis or radiculitis, unspecified",
    "337.2*": "Reflex sympathetic dystrophy",
    "722.10": "Displacement of lumbar intervertebral disc without myelopathy",
    "722.73": "Intervertebral disc disorder with myelopathy, lumbar region",
    "355.9": "Mononeuritis of unspecified site",
    "356.9": "Unspecified hereditary and idiopathic peripheral neuropathy",
    "354.4": "Causalgia of upper limb",
    "355.71": "Causalgia of lower limb",
    "353.6": "Phantom limb (syndrome)",
    "952*": "Spinal cord injury without evidence of spinal bone injury",
    "340": "Multiple sclerosis",
    # ICD-10-CM
    "M79.1*": "Myalgia (M79.1 until September 2022; M79.10-M79.18 from October 2022)",
    "M60.9": "Myositis, unspecified",
    "M79.2": "Neuralgia and neuritis, unspecified",
    "M54.1*": "Radiculopathy",
    "G90.5*": "Complex regional pain syndrome I (CRPS I)",
    "M51.26": "Other intervertebral disc displacement, lumbar region",
    "M51.27": "Other intervertebral disc displacement, lumbosacral region",
    "M51.16": "Intervertebral disc disorders with radiculopathy, lumbar region",
    "M51.17": "Intervertebral disc disorders with radiculopathy, lumbosacral region",
    "M51.06": "Intervertebral disc disorders with myelopathy, lumbar region",
    "G58.9": "Mononeuropathy, unspecified",
    "G60.9": "Hereditary and idiopathic neuropathy, unspecified",
    "G62.9": "Polyneuropathy, unspecified",
    "G56.4*": "Causalgia of upper limb",
    "G57.7*": "Causalgia of lower limb",
    "G54.6": "Phantom limb syndrome with pain",
    "G54.7": "Phantom limb syndrome without pain",
    "S14.1*": "Other and unspecified injuries of cervical spinal cord",
    "S24.1*": "Other and unspecified injuries of thoracic spinal cord",
    "S34.1*": "Other and unspecified injury of lumbar and sacral spinal cord",
    "G35*": "Multiple sclerosis (one code until September 2025; subdivided by course from October 2025)",
}


def _conditions() -> list[tuple[str, n.ConditionDecl, dict[str, str]]]:
    """Each condition of the corpus with the titles its block's comments give."""
    found = []
    for path in _GUIDELINES:
        text = path.read_text(encoding="utf-8")
        module, _ = parser.parse_module(text, str(path))
        assert module is not None, path
        lines = text.split("\n")
        for item in module.items:
            if isinstance(item, n.ConditionDecl):
                comments = []
                for line in lines[item.span.line :]:
                    if not line.strip() or not line.startswith(" "):
                        break
                    if line.strip().startswith("#"):
                        comments.append(line.strip())
                found.append((path.name, item, code_titles(comments)))
    return found


def test_every_code_pattern_has_its_official_title():
    """Each pattern a condition lists is in the official list, with the same title in its comment."""
    used = set()
    for name, condition, titles in _conditions():
        for code in (*condition.icd9, *condition.icd10):
            used.add(code)
            assert code in OFFICIAL_TITLES, f"{name}: {condition.name} lists {code}, which has no official title here"
            assert titles.get(code) == OFFICIAL_TITLES[code], f"{name}: {condition.name}: the title of {code}"
        assert set(titles) <= set(condition.icd9) | set(condition.icd10), f"{condition.name}: a title for no code"
    assert used == set(OFFICIAL_TITLES), f"titles for codes no condition lists: {set(OFFICIAL_TITLES) - used}"


def test_myelopathy_is_not_labelled_radiculopathy():
    """722.7x is a disc disorder with myelopathy: no condition called radiculopathy lists it."""
    for _name, condition, _titles in _conditions():
        if "722.73" in condition.icd9:
            assert "myelopathy" in condition.label and "radiculopathy" not in condition.label


_SOURCES = ROOT / "docs" / "sources.md"
_ROW = re.compile(r'^\| <a id="([a-z0-9-]+)"></a>`\1` \| (.*) \| ([^|]+) \| (.*) \| (.*) \|$')


def _sources_rows() -> dict[str, tuple[str, str]]:
    """docs/sources.md: each fact id with its status and its 'used by' cell."""
    rows = {}
    for line in _SOURCES.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            ident, _fact, status, _source, used_by = match.groups()
            assert ident not in rows, f"{ident} is listed twice in docs/sources.md"
            rows[ident] = (status.strip(), used_by)
    return rows


def _corpus_tags() -> dict[str, set[tuple[str, str]]]:
    """Every `# source: ID (STATUS)` comment of the corpus: id -> {(status, file)}."""
    tags: dict[str, set[tuple[str, str]]] = {}
    for path in _GUIDELINES:
        lines = path.read_text(encoding="utf-8").split("\n")
        # whole-line comments, and comments that end a line (a table row's)
        comments = [line[line.index("# source:") :] for line in lines if "# source:" in line]
        for ident, status in source_tags(comments):
            tags.setdefault(ident, set()).add((status, path.name))
    return tags


def test_every_fact_the_corpus_cites_is_in_sources_md_with_the_same_status():
    """A `# source:` name in the corpus is a row of docs/sources.md, and their statuses agree."""
    rows = _sources_rows()
    for ident, uses in _corpus_tags().items():
        assert ident in rows, f"{ident} is cited by {sorted(f for _s, f in uses)} but not listed in docs/sources.md"
        for status, file in uses:
            assert status == rows[ident][0], f"{file}: {ident} is '{status}' there, '{rows[ident][0]}' in sources.md"


def test_every_fact_in_sources_md_is_used_by_the_corpus(corpus):
    """docs/sources.md lists no fact the corpus does not cite, and its 'used by' names exist."""
    tags = _corpus_tags()
    # The session's compiled corpus (conftest): compiling it again here would
    # load a second in-memory module under the same name.
    program = corpus.program
    names = {r.name for r in program.rules} | {g.name for g in program.guidelines}
    names |= {f.name for f in program.facts}
    for path in _GUIDELINES:
        module, _ = parser.parse_module(path.read_text(encoding="utf-8"), str(path))
        assert module is not None
        for item in module.items:
            name = getattr(item, "name", None)
            if isinstance(name, str):
                names.add(name)
    for ident, (status, used_by) in _sources_rows().items():
        assert ident in tags, f"docs/sources.md lists {ident}, which no corpus file cites"
        assert status in _STATUSES, f"{ident}: unknown status {status!r}"
        for name in re.findall(r"`([a-z0-9_]+)`", used_by):
            assert name in names, f"{ident}: 'used by' names {name}, which the corpus does not declare"


_STATUSES = {"verified", "quoted", "recalled", "recalled: assumed unchanged", "derived", "policy"}


def test_nothing_refers_to_files_outside_the_repository():
    """Users have the repository only: no file of the corpus, the docs, the package or the examples points outside."""
    for folder in ("docs", "guidelines", "mtus_dsl", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in {".md", ".mtus", ".py", ".json", ".lark"}:
                text = path.read_text(encoding="utf-8")
                assert "shared/" not in text and "../" not in text.replace("](../", ""), path
    assert "shared/" not in (ROOT / "README.md").read_text(encoding="utf-8")
