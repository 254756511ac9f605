"""Synthetic corpora: band tables of up to 10,000 rules (target [5]), and realistic-shaped growth.

`write_bands(directory, rules)` writes a table of exactly `rules` rules for
target [5]: one section per service and body region (10 x 9 = 90 at most),
each a general rule plus rules over disjoint bands of an integer input that
override it:

    band_3_17: max_visits 18 when pain_score >= 1700 and pain_score < 1800
        overrides general_3

Section 0 (physical therapy, lumbar spine) always has REFERENCE_RULES rules
(REFERENCE_RULES - 1 bands and the general rule), so the decisions timed there
do the same work at every size; the other sections share the remaining rules
(about 110 each at 10,000). One file per service, one guideline per file.

`write_corpus(directory, scale)` (below) is the older realistic shape, kept for
information: the benchmark corpus plus many guidelines for other services and regions.

A corpus "at scale N" holds about N times the benchmark corpus's rules. The
extra rules are shaped like the real Physical Medicine section: each section
covers one service and one body region that the physical-medicine rules do
not (acupuncture, massage, TENS, chiropractic, ... for any region), has a
general rule and condition-specific rules that override it (and each other),
each condition has its own ICD-10 code set, each guideline adds an input of
its own and a visit cap. So the corpus grows in every dimension a decision
might pay for (rules, caps, guidelines, conditions, code patterns, inputs),
but the seed case's service and region (physical therapy, lumbar spine) keep
their four rules and one cap: with dispatch on service and body region, a
decision should not notice the rest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cases import ROOT

#: The benchmark corpus: a frozen copy of the shipped guidelines (see README.md).
CORPUS = ROOT / "benchmarks" / "corpus"

_SERVICES = (
    "acupuncture", "massage", "aquatic_therapy", "tens", "work_conditioning", "work_hardening",
    "functional_restoration", "chiropractic",
)
_REGIONS = (
    "cervical_spine", "thoracic_spine", "lumbar_spine", "shoulder", "elbow", "wrist_hand", "hip", "knee", "ankle_foot",
)
#: Rules per synthetic section: one general rule and this many minus one condition rules.
RULES_PER_SECTION = 7
#: Sections per synthetic guideline (file).
SECTIONS_PER_GUIDELINE = 6


#: The services and body regions of the prelude: the band table's 90 sections.
BAND_SERVICES = (
    "physical_therapy", "occupational_therapy", "chiropractic", "acupuncture", "massage", "aquatic_therapy", "tens",
    "work_conditioning", "work_hardening", "functional_restoration",
)
BAND_REGIONS = (
    "lumbar_spine", "cervical_spine", "thoracic_spine", "shoulder", "elbow", "wrist_hand", "hip", "knee", "ankle_foot",
)
#: Rules in section 0 (where decisions are timed), at every size.
REFERENCE_RULES = 100
#: The width of each band of pain_score.
BAND_WIDTH = 100
#: Rules per section the band table aims for (besides section 0).
RULES_PER_BAND_SECTION = 111


def band_sections(rules: int) -> list[int]:
    """How many rules each section of a band table of `rules` rules gets (section 0 first)."""
    if rules < REFERENCE_RULES:
        raise ValueError(f"a band table has at least {REFERENCE_RULES} rules")
    rest = rules - REFERENCE_RULES
    others = min(len(BAND_SERVICES) * len(BAND_REGIONS) - 1, -(-rest // RULES_PER_BAND_SECTION))
    sizes = [REFERENCE_RULES] + [rest // others + (1 if i < rest % others else 0) for i in range(others)] if others \
        else [REFERENCE_RULES]
    assert sum(sizes) == rules and min(sizes) >= 1
    return sizes


def band_case(score: int | None, quantity: int = 12) -> dict[str, object]:
    """A request to section 0 of a band table with this pain score (None: leave it out)."""
    case: dict[str, object] = {
        "id": f"band-{score}",
        "request_date": "2015-09-23",
        "service": BAND_SERVICES[0],
        "body_region": BAND_REGIONS[0],
        "quantity": quantity,
        "prior_visits": 2,
    }
    if score is not None:
        case["pain_score"] = score
    return case


def write_bands(directory: Path, rules: int) -> int:
    """Write a band table of exactly `rules` rules into `directory`; return the number of sections."""
    directory.mkdir(parents=True, exist_ok=True)
    sizes = band_sections(rules)
    high = max(sizes) * BAND_WIDTH * 2
    files: dict[int, list[str]] = {}
    for k, size in enumerate(sizes):
        service = BAND_SERVICES[k // len(BAND_REGIONS)]
        region = BAND_REGIONS[k % len(BAND_REGIONS)]
        g = k // len(BAND_REGIONS)
        lines = files.get(g)
        if lines is None:
            lines = files[g] = [
                f"# Synthetic band table {g}: {service}, one section per body region.",
                "",
                f'guideline bands_{g} "Synthetic Band Table {g}" edition "2015":',
                f'    regulation "8 CCR 9999.{g}"',
                "    in force from 2009-01-01",
                "",
            ]
            if g == 0:
                lines += [f'input pain_score: integer 0..{high} "a synthetic score the band rules test"', ""]
        lines += [
            f'section bands_{k} "Synthetic section {k}" pages {k + 1}-{k + 2}:',
            f"    services {service}",
            f"    regions {region}",
            "    unit visits",
            "",
            f"    general_{k}: max_visits 6",
            "",
        ]
        for j in range(size - 1):
            lines += [
                f"    band_{k}_{j}: max_visits {1 + j % 24} when pain_score >= {j * BAND_WIDTH} "
                f"and pain_score < {(j + 1) * BAND_WIDTH}",
                f"        overrides general_{k}",
                "",
            ]
    for g, lines in files.items():
        (directory / f"bands_{g:02d}.mtus").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(sizes)


def base_rule_count() -> int:
    """Rules and caps in the benchmark corpus."""
    import mtus_dsl

    return len(mtus_dsl.load([CORPUS]).program.rules)


def _code(k: int, j: int) -> tuple[str, str]:
    """An exact ICD-10-shaped code and a prefix pattern, distinct per (section, condition)."""
    n = k * RULES_PER_SECTION + j
    letter = "WXY"[n % 3]
    exact = f"{letter}{n % 10}{(n // 10) % 10}.{(n // 100) % 10}{n % 7}"
    return exact, f"{letter}{(n // 3) % 10}{(n // 30) % 10}.{n // 300}*"


def _guideline_file(g: int, sections: list[tuple[int, str, str]]) -> str:
    lines = [
        f"# Synthetic guideline {g}: {len(sections)} sections for services and regions physical medicine leaves out.",
        "",
        f'guideline synth_g{g} "Synthetic Treatment Guideline {g}" edition "{2010 + g % 10}":',
        f'    regulation "8 CCR 9999.{g}"',
        "    in force from 2009-01-01",
        "",
        f'input synth_documented_{g}: boolean "synthetic guideline {g}: the treating physician documents the plan"',
        "",
    ]
    for k, _service, _region in sections:
        for j in range(1, RULES_PER_SECTION):
            exact, prefix = _code(k, j)
            lines += [f'condition synth_c{k}_{j} "synthetic condition {k}.{j}":', f"    icd10 {exact}, {prefix}", ""]
    services = sorted({s for _k, s, _r in sections})
    lines += [
        f'section synth_cap_{g} "Synthetic visit cap {g}":',
        f"    services {', '.join(services)}",
        "    unit visits",
        "",
        f"    cap synth_cap_{g}: max_visits 40 counting prior_visits_all_regions",
        "        when injury_date >= 2009-01-01",
        '        subsection "(a)"',
        "",
    ]
    for k, service, region in sections:
        lines += [
            f'section synth_s{k} "Synthetic section {k}" pages {k + 1}-{k + 2}:',
            f"    services {service}",
            f"    regions {region}",
            "    unit visits",
            "",
            f"    synth_r{k}_0: max_visits 6 unless post_surgical",
            f"        page {k + 1}",
            '        rationale "{requested} visits requested; the synthetic guideline supports {limit}; '
            '{prior} already given, so {allowed} remain"',
            "",
        ]
        for j in range(1, RULES_PER_SECTION):
            earlier = ", ".join(f"synth_r{k}_{i}" for i in range(j))
            when = f"synth_c{k}_{j} in conditions"
            if j == 1:
                when += f" and synth_documented_{g}"
            lines += [
                f"    synth_r{k}_{j}: max_visits {6 + j} over {j + 1} weeks when {when} unless post_surgical",
                f"        overrides {earlier}",
                f"        page {k + 2}",
                "",
            ]
    return "\n".join(lines) + "\n"


def write_corpus(directory: Path, scale: int) -> int:
    """Write the benchmark corpus plus synthetic guidelines for about `scale` times its rules; return the rule count."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(CORPUS.glob("*.mtus")):
        shutil.copy(path, directory / path.name)
    base = 5  # the benchmark corpus: 4 rules and 1 cap (checked by the scale benchmark)
    wanted = base * scale - base
    buckets = [(s, r) for s in _SERVICES for r in _REGIONS]
    sections: list[tuple[int, str, str]] = []
    count = 0
    k = 0
    while count < wanted:
        if k >= len(buckets):
            raise ValueError(f"scale {scale} needs more than {len(buckets)} service/region pairs")
        service, region = buckets[k]
        sections.append((k, service, region))
        count += RULES_PER_SECTION
        k += 1
    for g in range(0, len(sections), SECTIONS_PER_GUIDELINE):
        group = sections[g : g + SECTIONS_PER_GUIDELINE]
        (directory / f"synth_{g // SECTIONS_PER_GUIDELINE:03d}.mtus").write_text(
            _guideline_file(g // SECTIONS_PER_GUIDELINE, group), encoding="utf-8"
        )
    return count
