"""Synthetic corpora: the benchmark corpus plus many guidelines for other services and regions.

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
