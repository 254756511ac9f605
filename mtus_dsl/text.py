"""Text: how values read in a rationale, the sentences of a decision, the default rationale."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from mtus_dsl.case import Record
from mtus_dsl.completions import ABSENT
from mtus_dsl.decision import Citation, Clause, Outcome, TraceEntry
from mtus_dsl.provenance import Provenance
from mtus_dsl.runtime import NOT_IN_FORCE, Duration, RuleError, Unknown

if TYPE_CHECKING:
    from mtus_dsl.completions import Leaf
    from mtus_dsl.decision import Assumption
    from mtus_dsl.engine import Bucket, Engine, Facts, GuidelineMeta, Rule, Settled


def printable(text: str) -> str:
    """Escape control, non-printable and lone-surrogate characters (\\n, \\x1b, \\u2028...).

    Text from a case (an id, a procedure) then cannot start a line of its own in
    the output, forge a paragraph of a letter, or fail to encode.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def printable_lines(lines: Iterable[str]) -> str:
    """Lines joined by \\n, each made printable: text they quote cannot break a line of its own or forge one."""
    return "\n".join(printable(line) for line in lines)


def show(value: Any) -> str:
    """Render a value inside a rationale: dates ISO, names with spaces, sets and lists joined."""
    cls = value.__class__
    # The common cases first (numbers and names in every rationale); the same text as below.
    if cls is int:
        return str(value)
    if cls is str:
        text: str = value
        return text.replace("_", " ")
    if cls is datetime.date:
        return value.isoformat()  # type: ignore[no-any-return]
    if cls is Duration or cls is Record:
        return str(value)
    if cls is tuple and len(value) == 1:
        return show(value[0])
    if value is None:
        return "none"
    if value.__class__ is Unknown:
        return "unknown"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Record):
        return str(value)
    if isinstance(value, (tuple, frozenset, list)):
        items = sorted(show(v) for v in value) if isinstance(value, frozenset) else [show(v) for v in value]
        if not items:
            return "none"
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]
    return str(value).replace("_", " ")


def show_value(value: Any) -> str:
    """Render a value as a diagnostic shows it: close to how a case or a .mtus file writes it."""
    if value.__class__ is Unknown:
        return "unknown (the case does not give it)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(show_value(v) for v in value)) + "}"
    if isinstance(value, tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def names(facts: Iterable[str]) -> str:
    """Join names as a sentence does: `a, b and c`."""
    listed = sorted(facts)
    return ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]


def sentence(text: str) -> str:
    """Capitalise a text and end it with a period, as every rationale sentence is."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def default_rationale(citation: Citation, numbers: Mapping[str, Any]) -> str:
    """The rationale of a rule that states none: what was asked, what the guideline supports."""
    unit = numbers["unit"]
    over = f" over {numbers['period']}" if numbers["period"] is not None else ""
    if numbers["limit"] == 0:
        where = f"{citation.document}, {citation.section}"
        return f"{numbers['requested']} {unit} requested; {where}, does not support them"
    supports = f"{citation.document}, {citation.section}, supports {numbers['limit']} {unit}{over}"
    text = f"{numbers['requested']} {unit} requested; {supports}"
    if numbers["prior"]:
        text += f"; {numbers['prior']} already given, so {numbers['allowed']} remain"
    return text


# --- the explanation of a decision -------------------------------------------------------------


class Explanation:
    """Render a settled decision's citations, rationale and trace: called once, when first read."""

    __slots__ = ("assumed", "bucket", "engine", "facts", "leaves", "settled", "values")

    def __init__(self, engine: Engine, values: Mapping[str, Any], facts: Facts | None, bucket: Bucket | None,
                 settled: Settled, leaves: tuple[Leaf, ...] = (), assumed: tuple[Assumption, ...] = ()):
        self.engine = engine
        self.values = values
        self.facts = facts
        self.bucket = bucket
        self.settled = settled
        self.leaves = leaves  # the completions of a case its unknown inputs cannot change
        self.assumed = assumed

    def __call__(self) -> tuple[tuple[Citation, ...], str, tuple[TraceEntry, ...]]:
        settled = self.settled
        trace = self.trace()
        outcome = settled.outcome
        if self.leaves:
            citations, text = self.completed()
        elif outcome is Outcome.NEEDS_INFORMATION:
            text = (
                f"The decision depends on {names(settled.missing)}, which the case does not give; "
                f"supply {'it' if len(settled.missing) == 1 else 'them'} and ask again."
            )
            citations = ()
        elif outcome is Outcome.NOT_ADDRESSED:
            citations, text = (), self.not_addressed()
        else:
            assert self.facts is not None
            citations, text = self.settled_text(settled, self.facts)
        if self.assumed:
            text = " ".join([text, *[sentence(_assumption(a)) for a in self.assumed]])
        return citations, text, trace

    def settled_text(self, settled: Settled, facts: Facts, explained: bool = True) -> tuple[tuple[Citation, ...], str]:
        """The citations and rationale of a settled decision: its governing rule's, then each binding cap's."""
        rule, allowance = settled.rule, settled.allowance
        assert rule is not None and allowance is not None
        numbers = {
            "requested": self.values["quantity"],
            "approved": settled.approved,
            "limit": allowance.limit,
            "prior": allowance.prior,
            "allowed": allowance.allowed,
            "period": allowance.period,
            "unit": rule.unit,
        }
        texts = [_rationale(rule, facts, numbers)]
        for cap, result in settled.binding:
            cap_numbers = dict(numbers, limit=result.limit, prior=result.prior, allowed=result.allowed,
                               period=result.period, unit=cap.unit)
            texts.append(_rationale(cap, facts, cap_numbers))
        derivations = self.engine.facts_plan
        for name in rule.explained if explained else ():
            explain = derivations[name].explain
            said = explain(facts, facts[name]) if explain is not None else None
            if said:
                texts.append(said)
        citations = [rule.citation]
        for cap, _ in settled.binding:
            if cap.citation not in citations:
                citations.append(cap.citation)
        return tuple(citations), " ".join([sentence(t) for t in texts])

    def completed(self) -> tuple[tuple[Citation, ...], str]:
        """Say that whatever the case's unknown inputs are, the answer is the same; and each way it is reached."""
        leaves = self.leaves
        first = leaves[0].settled
        unknown = sorted({name for leaf in leaves for name in leaf.chosen})
        quantity, unit = self.values["quantity"], (first.rule.unit if first.rule else "units")
        if len(unknown) == 1 and self.engine.specs[unknown[0]].type.kind == "boolean":
            lead = f"with or without {_words(unknown[0])}"
        else:
            lead = f"whatever the {names(_words(n) for n in unknown)}"
        if first.outcome is Outcome.CERTIFY:
            answer = f"all {quantity} {unit} requested are supported"
        elif first.outcome is Outcome.NON_CERTIFY:
            answer = f"none of the {quantity} {unit} requested is supported"
        elif first.outcome is Outcome.MODIFY:
            answer = f"at most {first.approved} of the {quantity} {unit} requested are supported"
        else:
            answer = "no encoded rule governs the request"
        texts = [sentence(f"The case does not give {names(_words(n) for n in unknown)}; {lead}, {answer}")]
        cited: list[tuple[Citation, ...]] = []
        shown: set[str | None] = set()
        for leaf in leaves:
            rule = leaf.settled.rule
            if leaf.settled.allowance is None or rule is None:
                continue
            # The facts a rule explains (not post-surgical, ...) are the same in every completion: said once.
            citations, text = self.settled_text(leaf.settled, leaf.facts, explained=not shown)
            cited.append(citations)
            if rule.name not in shown and len(shown) < 3:
                shown.add(rule.name)
                texts.append(_choices(leaf.chosen) + ": " + text)
        shared = [c for c in cited[0] if all(c in other for other in cited)] if cited else []
        if not shared:
            shared = list(dict.fromkeys(c for citations in cited for c in citations))
        return tuple(shared), " ".join(texts)

    def provenance(self) -> Provenance:
        """The plan's provenance with the editions this decision used: those of its bucket in force that day."""
        plan = self.engine.plan.provenance
        bucket = self.bucket
        if bucket is None:
            return plan
        date = self.values["request_date"]
        used: list[str] = []
        for rule in (*bucket.rules, *bucket.caps):
            start, end = self.engine.windows[rule.name]
            if start <= date <= end and rule.guideline not in used:
                used.append(rule.guideline)
        return plan.with_editions(used)

    def trace(self) -> tuple[TraceEntry, ...]:
        """Every rule of the bucket in priority order, then each cap consulted, with what it said."""
        bucket, facts, settled = self.bucket, self.facts, self.settled
        if bucket is None or facts is None:
            return ()
        entries = []
        governing = settled.rule
        for rule in bucket.rules:
            verdict = facts.verdicts.get(rule.name)
            if verdict is None:
                # After the governing rule: the procedure stopped before it; the trace still says.
                try:
                    verdict = self.engine.check(rule, facts)
                except RuleError as error:
                    entries.append(_entry(rule, "unknown", f"not settled: {error.message}"))
                    continue
            value, reason = verdict
            if rule is governing:
                if settled.allowance is None and settled.outcome is Outcome.NEEDS_INFORMATION:
                    entries.append(_entry(rule, "unknown", f"its limit depends on {names(settled.missing)}"))
                else:
                    entries.append(self._governs(rule))
            elif value is True:
                assert governing is not None
                entries.append(_entry(rule, "not_applicable", f"applies too, but '{governing.name}' comes first"))
            else:
                entries.append(self._not_applying(rule, value, reason))
        for cap, what, data in settled.events:
            if what == "off":
                value, reason = facts.verdicts[cap.name]
                entries.append(self._not_applying(cap, value, reason))
            elif what == "may bind":
                entries.append(_entry(cap, "unknown", f"may bind; depends on {names(data)}"))
            else:
                status = "applies" if what == "loose" else "unknown"
                entries.append(_entry(cap, status, f"allows {data} more {cap.unit}; does not bind"))
        for cap, result in settled.caps:
            status = "binds" if result.allowed == settled.approved else "applies"
            entries.append(_entry(cap, status, f"allows {result.allowed} more {cap.unit}"))
        return tuple(entries)

    def _not_applying(self, rule: Rule, value: Any, reason: int) -> TraceEntry:
        if value.__class__ is Unknown:
            return _entry(rule, "unknown", f"depends on {names(value.facts)}, which the case does not give")
        if reason == NOT_IN_FORCE:
            g = self.engine.guidelines[rule.guideline]
            date = self.values["request_date"].isoformat()
            return _entry(rule, "not_in_force", f"{g.title} ({g.edition}) is not in force on {date}")
        entry = _fixed(self.engine, rule)[1][reason]
        if self.facts is None or reason >= len(rule.clauses):
            return entry
        clause = self._clause(rule, reason, "true" if entry.detail.startswith("excepted") else "false")
        part = _deciding_part(clause)
        detail = f"{entry.detail}: {part}" if part else entry.detail
        if clause.matched:
            detail += f" ({clause.matched})"
        return attrs.evolve(entry, detail=detail, clauses=(clause,))

    def _governs(self, rule: Rule) -> TraceEntry:
        """A governing rule's entry: each clause with the values it read, and the diagnosis that matched."""
        entry = _fixed(self.engine, rule)[0]
        if self.facts is None or not rule.clauses:
            return entry
        clauses = tuple(
            self._clause(rule, index, "false" if rule.reasons[index].startswith("excepted") else "true")
            for index in range(len(rule.clauses))
        )
        matched = [c.matched for c in clauses if c.matched]
        detail = entry.detail + (": " + "; ".join(matched) if matched else "")
        return attrs.evolve(entry, detail=detail, clauses=clauses)

    def _clause(self, rule: Rule, index: int, value: str) -> Clause:
        """Clause `index` of a rule: its text, the values it read on this case, the diagnoses behind it."""
        facts = self.facts
        assert facts is not None
        text, reads, conditions = rule.clauses[index]
        # Only the values the guard computed: a clause after the one that decided may not be computable.
        shown = tuple((name, show_value(dict.__getitem__(facts, name))) for name in reads if name in facts)
        matched = self._matched(conditions, facts) if value == "true" else None
        return Clause(text, value, shown, matched)

    def _matched(self, conditions: tuple[str, ...], facts: Facts) -> str | None:
        """Which of the case's diagnoses (or its condition word) make the named conditions hold."""
        index = self.engine.plan.codes
        found = []
        for condition in conditions:
            codes = []
            diagnoses = self.values.get("diagnoses")
            if index is not None and isinstance(diagnoses, tuple):
                for code in diagnoses:
                    held: set[str] = set()
                    index.add_conditions(code, held)
                    if condition in held:
                        codes.append(code)
            if codes:
                found.append(f"diagnosis {', '.join(codes)} is {_words(condition)}")
            elif self.values.get("condition") == condition:
                found.append(f"the case's condition is {_words(condition)}")
        return "; ".join(found) or None

    def not_addressed(self) -> str:
        """Say that no encoded rule governs the request, and why: out of force, or not covered."""
        values = self.values
        service = str(values["service"]).replace("_", " ")
        region = str(values["body_region"]).replace("_", " ")
        date = values["request_date"].isoformat()
        stale: list[GuidelineMeta] = []
        if self.bucket is not None and self.facts is not None:
            for rule in self.bucket.rules:
                g = self.engine.guidelines[rule.guideline]
                if self.facts.verdicts[rule.name][1] == NOT_IN_FORCE and g not in stale:
                    stale.append(g)
        if stale:
            named = " and ".join(f"{g.title} ({g.edition})" for g in stale)
            verb = "is" if len(stale) == 1 else "are"
            editions = "; ".join(g.describe() for g in self.engine.guidelines.values())
            return (
                f"No encoded rule in force on {date} governs {service} for the {region}: {named} {verb} not in "
                f"force on that date. The corpus has: {editions}."
            )
        return (
            f"The encoded MTUS does not address {service} for the {region} in this case; "
            "under 8 CCR 9792.21(d) the reviewer looks to other evidence-based guidelines."
        )


def _rationale(rule: Rule, facts: Facts, numbers: Mapping[str, Any]) -> str:
    if rule.rationale is not None:
        return rule.rationale(facts, numbers)
    return default_rationale(rule.citation, numbers)


def _substituted(clause: Clause) -> str:
    """The clause's text with each name it read replaced by the value read: `3 >= 12`."""
    text = clause.text
    for name, value in clause.reads:
        text = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w(])", value, text)
    return text


_COMPARISON = re.compile(r"^(-?\d+) (<=|>=|<|>|=|!=) (-?\d+)$")
_OPS: dict[str, Callable[[int, int], bool]] = {
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b,
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _deciding_part(clause: Clause) -> str | None:
    """Say which part of a clause decided, with the values read: `postsurgical_visits >= general_course: 3 >= 12
    is false`. A clause `a and b` that does not hold names its first part that is false."""
    parts = _top_level_and(clause.text) if clause.value == "false" else [clause.text]
    for part in parts:
        single = Clause(part, clause.value, clause.reads)
        substituted = _substituted(single)
        verdict = _literal_truth(substituted)
        if len(parts) > 1 and verdict is not False:
            continue
        if substituted == part:
            return None if len(parts) == 1 else f"{part} is false"
        if verdict is not None and substituted in ("false", "true"):
            return f"{part} is {substituted}"
        return f"{part}: {substituted} is {clause.value}"
    substituted = _substituted(clause)
    return f"{substituted} is {clause.value}" if substituted != clause.text else None


def _top_level_and(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += char in "([{"
        depth -= char in ")]}"
        if depth == 0 and text.startswith(" and ", i):
            parts.append(text[start:i])
            start = i + 5
    return [*parts, text[start:]]


def _literal_truth(text: str) -> bool | None:
    """The truth of a clause part once its values are in, when that is plain: false, 3 >= 12."""
    if text in ("false", "true"):
        return text == "true"
    match = _COMPARISON.match(text)
    if match:
        return _OPS[match.group(2)](int(match.group(1)), int(match.group(3)))
    return None


def _words(name: str) -> str:
    return name.replace("_", " ")


def _choices(chosen: Mapping[str, Any]) -> str:
    """A completion in words: `with radicular findings`, `without functional improvement`, `prior visits 3`."""
    parts = []
    for name, value in chosen.items():
        if value is True:
            parts.append(f"with {_words(name)}")
        elif value is False:
            parts.append(f"without {_words(name)}")
        elif value is ABSENT or value == () or value == frozenset():
            parts.append(f"with no {_words(name)}")
        else:
            parts.append(f"with {_words(name)} {show(value)}")
    text = " and ".join(parts)
    return text[:1].upper() + text[1:]


def _assumption(assumption: Assumption) -> str:
    value = assumption.value
    read = "no" if value is False else "yes" if value is True else show(value)
    return f"the record does not give {_words(assumption.field)}: read as {read} ({assumption.reason})"


def _entry(rule: Rule, status: str, detail: str) -> TraceEntry:
    return TraceEntry(rule.name, rule.kind, status, detail, rule.source)


def _fixed(engine: Engine, rule: Rule) -> tuple[TraceEntry, tuple[TraceEntry, ...]]:
    """The trace entries of a rule that do not depend on the case (it governs; each clause that rules it
    out), made once per engine."""
    entries = engine.fixed_entries.get(rule.name)
    if entries is None:
        governs = _entry(rule, "governs", "applies to this request")
        entries = (governs, tuple(_entry(rule, "not_applicable", r) for r in rule.reasons))
        engine.fixed_entries[rule.name] = entries
    return entries
