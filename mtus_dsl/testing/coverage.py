"""Coverage in guideline units: which rules, caps, exceptions, outcomes and pages a test run exercised.

`mtus test --coverage` records every case it decides (each example and each
generated case) and reports, per section, what those cases reached: a rule that
decided one of them, a cap that held one down (named in its decision), an
`unless` clause that held for a case the rule was dispatched to, each outcome,
and each page (or subsection) a decision cited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from mtus_dsl.case import Case
from mtus_dsl.compiler import ir
from mtus_dsl.compiler.interpreter import Interpreter
from mtus_dsl.decision import Citation, Outcome
from mtus_dsl.schedule import Schedule

#: The outcomes a section's cases may get, in the order the report lists them.
OUTCOMES = tuple(o.value for o in Outcome)


def cited(citation: Citation) -> str:
    """The page or subsection a citation points at, as the report names it."""
    if citation.pages:
        return f"p. {citation.pages}"
    if citation.subsection:
        return f"subsection {citation.subsection}"
    return citation.section


@attrs.frozen
class SectionCoverage:
    """What the cases reached of one section, against all it holds."""

    section: str
    title: str
    rules: tuple[tuple[str, bool], ...]  # (rule, exercised)
    caps: tuple[tuple[str, bool], ...]
    exceptions: tuple[tuple[str, bool], ...]  # ("rule unless: reason", exercised)
    outcomes: tuple[str, ...]  # the outcomes its cases got
    pages: tuple[tuple[str, bool], ...]

    def to_json(self) -> dict[str, Any]:
        """The section's coverage as JSON-ready data."""

        def units(pairs: tuple[tuple[str, bool], ...]) -> dict[str, Any]:
            return {"covered": [n for n, hit in pairs if hit], "missed": [n for n, hit in pairs if not hit]}

        return {
            "section": self.section,
            "title": self.title,
            "rules": units(self.rules),
            "caps": units(self.caps),
            "exceptions": units(self.exceptions),
            "outcomes": list(self.outcomes),
            "pages": units(self.pages),
        }


class Coverage:
    """Records the cases a run decides and says, per section, what they exercised."""

    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.program = schedule.program
        self.evaluator = Interpreter(schedule.program)
        self.dispatch = dict(schedule.program.dispatch)
        self.decided: set[str] = set()  # rules and caps named by a decision
        self.excepted: set[tuple[str, int]] = set()  # (rule, unless clause) that held
        self.outcomes: dict[str, set[str]] = {}  # section -> outcomes its cases got
        self.pages: set[tuple[str, str]] = set()  # (section, page) cited
        self.cases = 0

    def record(self, data: Mapping[str, Any]) -> None:
        """Decide one case and note what it reached; a case that fails to decide reaches nothing."""
        try:
            case = Case.from_dict(data, self.program.schema)
            decision = self.schedule.decide(case)
        except Exception:
            return
        self.cases += 1
        key = (str(case.values.get("service")), str(case.values.get("body_region")))
        rules, caps = self.dispatch.get(key, ((), ()))
        self.decided.update(decision.rules)
        for name in decision.rules:
            rule = self.program.rule(name)
            self.pages.add((rule.section, cited(rule.citation)))
        sections = {self.program.rule(n).section for n in decision.rules} or {
            self.program.rule(n).section for n in (*rules, *caps)
        }
        for section in sections:
            self.outcomes.setdefault(section, set()).add(decision.outcome.value)
        try:
            facts = self.schedule.interpreter.facts(case)
        except Exception:
            return
        for name in (*rules, *caps):
            rule = self.program.rule(name)
            for index, clause in enumerate(rule.unless):
                if (name, index) in self.excepted:
                    continue
                try:
                    if self.evaluator.eval(clause, facts, {}) is True:
                        self.excepted.add((name, index))
                except Exception:
                    continue

    def sections(self) -> list[SectionCoverage]:
        """Each section with rules, in the order its rules are declared, with what was exercised."""
        grouped: dict[str, list[ir.RuleInfo]] = {}
        for rule in sorted(self.program.rules, key=lambda r: (r.origin.path, r.origin.line)):
            grouped.setdefault(rule.section, []).append(rule)
        out = []
        for section, rules in grouped.items():
            exceptions = []
            for rule in rules:
                for index, reason in enumerate(rule.reasons[len(rule.when) :]):
                    exceptions.append((f"{rule.name} {reason}", (rule.name, index) in self.excepted))
            pages = sorted({cited(r.citation) for r in rules})
            out.append(
                SectionCoverage(
                    section,
                    rules[0].citation.section,
                    tuple((r.name, r.name in self.decided) for r in rules if r.kind == "rule"),
                    tuple((r.name, r.name in self.decided) for r in rules if r.kind == "cap"),
                    tuple(exceptions),
                    tuple(o for o in OUTCOMES if o in self.outcomes.get(section, set())),
                    tuple((p, (section, p) in self.pages) for p in pages),
                )
            )
        return out

    def percent(self) -> float:
        """The share of rules and caps that decided (or held down) some case, in percent."""
        every = [r.name for r in self.program.rules]
        return 100.0 * sum(n in self.decided for n in every) / len(every) if every else 100.0


def _ratio(pairs: tuple[tuple[str, bool], ...]) -> str:
    return f"{sum(hit for _, hit in pairs)}/{len(pairs)}" if pairs else "-"


def render(coverage: Coverage) -> str:
    """The coverage report as plain text: one line per section, then what no case reached."""
    sections = coverage.sections()
    header = ("section", "rules", "caps", "exceptions", "pages", "outcomes")
    rows = [
        (s.section, _ratio(s.rules), _ratio(s.caps), _ratio(s.exceptions), _ratio(s.pages), ", ".join(s.outcomes))
        for s in sections
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [f"coverage ({coverage.cases} cases decided, {coverage.percent():.1f}% of rules and caps)"]
    for row in [header, *rows]:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    missed = []
    for s in sections:
        names = [n for n, hit in (*s.rules, *s.caps, *s.exceptions, *s.pages) if not hit]
        if names:
            missed.append(f"  {s.section}: not exercised: {'; '.join(names)}")
    if missed:
        lines.append("what no case reached:")
        lines.extend(missed)
    return "\n".join(lines)
