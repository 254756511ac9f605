"""The baseline: physical-medicine requests decided by a hand-written Python function.

THIS IS THE ONE PLACE WHERE GUIDELINE NUMBERS APPEAR IN PYTHON. It exists only
as the yardstick the benchmarks compare the compiled code against: what an
experienced engineer would hard-code without mtus-dsl (service/region check,
edition in force, post-surgical check over the surgeries, condition from the
code sets, allowance, Labor Code cap), building the very same
`mtus_dsl.Decision` -- outcome, numbers, rationale, citations and trace --
that the compiled corpus builds. Nothing in mtus_dsl imports it, and it must
never become a second source of truth for the guidelines.

It hard-codes the benchmark corpus, benchmarks/corpus/*.mtus: a frozen copy
of the shipped guidelines as of commit 0611239 (the shipped corpus keeps
growing; the baseline, and so the comparison, must not move under it).
That is CPMTG 2009 Physical Medicine p. 99 (general 10 visits, neuritis 10
over 4 weeks, myalgia 10 over 8 weeks, CRPS 24 over 16 weeks, none of them
for post-surgical requests), the postsurgical periods of 8 CCR 9792.24.3 and
the Labor Code 4604.5(c)(1) cap of 24 visits per injury. Missing case fields
are handled as the corpus handles them (a decision that needs them asks for
them), because the benchmark cases include such requests. The trace's
source lines name the rule lines of those files. The benchmarks assert, before
timing anything, that this function's decision equals the compiled one for
every benchmark case; it was also checked equal on 20,000 random requests
(`cases.random_cases`).

Like the compiled engine it takes a validated `mtus_dsl.Case`; `decide_dict`
validates a dict first (with the corpus's schema) for end-to-end timings.
`decide_outcome` is the same decision stopped at (outcome, approved), the
yardstick for `Schedule.outcome`; it is checked equal to the compiled
outcome on every benchmark case and on 20,000 random requests on every run.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mtus_dsl import Case, Citation, Decision, Outcome, TraceEntry
from mtus_dsl.case import CaseSchema

# Where the benchmark corpus's files are, as the trace names them ("path:line"); `use_sources`
# updates it to the names a loaded Schedule gives them.
_CORPUS = Path(__file__).resolve().parent / "corpus"
_CPMTG_SRC = str(_CORPUS / "cpmtg_2009.mtus")
_LC_SRC = str(_CORPUS / "labor_code.mtus")

# --- guideline data, typed in by hand ---------------------------------------------

_CPMTG_FROM = datetime.date(2009, 7, 18)
_CPMTG_TO = datetime.date(2017, 11, 30)
_LC_FROM = datetime.date(2004, 1, 1)
_CAP_INJURY_FROM = datetime.date(2004, 1, 1)
_CAP_VISITS = 24

_PM_SERVICES = frozenset({"physical_therapy", "occupational_therapy"})
_CAP_SERVICES = frozenset({"physical_therapy", "occupational_therapy", "chiropractic"})

_PM_CITATION = Citation(
    "Chronic Pain Medical Treatment Guidelines", "2009", "Physical Medicine", "99", None, "8 CCR 9792.24.2"
)
_CAP_CITATION = Citation(
    "California Labor Code", "section 4604.5", "Visit cap per industrial injury", None, "(c)(1)",
    "Labor Code 4604.5(c)(1)",
)

# ICD codes -> conditions (exact codes, then prefixes).
_EXACT = {
    "729.1": "myalgia",
    "729.2": "neuritis",
    "724.4": "neuritis",
    "M79.2": "neuritis",
    "722.10": "lumbar_disc_displacement",
    "M51.26": "lumbar_disc_displacement",
    "M51.27": "lumbar_disc_displacement",
    "722.73": "lumbar_disc_radiculopathy",
    "M51.16": "lumbar_disc_radiculopathy",
    "M51.17": "lumbar_disc_radiculopathy",
}
_PREFIXES = (("M79.1", "myalgia"), ("M60", "myalgia"), ("M54.1", "neuritis"), ("337.2", "crps"), ("G90.5", "crps"))

# Postsurgical period in months per (procedure, region); every other surgery: 6 months.
_POSTSURGICAL_MONTHS = {("meniscectomy", "knee"): 6}
_DEFAULT_POSTSURGICAL_MONTHS = 6

# The four rules, most specific first: (name, limit, period, source line, rationale middle).
_CRPS, _NEURITIS, _MYALGIA, _GENERAL = "crps", "neuritis", "myalgia", "physical_medicine"
_PERIOD = {_CRPS: "16 weeks", _NEURITIS: "4 weeks", _MYALGIA: "8 weeks", _GENERAL: None}
_LIMIT = {_CRPS: 24, _NEURITIS: 10, _MYALGIA: 10, _GENERAL: 10}
_SUPPORTS = {
    _CRPS: "24 visits over 16 weeks for reflex sympathetic dystrophy (CRPS)",
    _NEURITIS: "8-10 visits over 4 weeks for neuralgia, neuritis and radiculitis-type conditions, "
    "then a home exercise program",
    _MYALGIA: "9-10 visits over 8 weeks for myalgia and myositis",
    _GENERAL: "up to 10 visits of physical medicine (9-10 for myalgia, 8-10 for neuritis-type conditions), "
    "fading to self-directed home exercise",
}

_EXCEPT_POST = "excepted: 'post_surgical' holds"
_OVERRIDDEN_BY = {r: f"excepted: '{r}' applies, and it overrides this rule" for r in (_CRPS, _NEURITIS, _MYALGIA)}
_NOT_IN_FORCE = "Chronic Pain Medical Treatment Guidelines (2009) is not in force on "
_EDITIONS = (
    "Chronic Pain Medical Treatment Guidelines (2009), in force 2009-07-18 to 2017-11-30; "
    "California Labor Code (section 4604.5), in force 2004-01-01 to today; "
    "Postsurgical Treatment Guidelines (2009), in force 2009-07-18 to today"
)


_SOURCE: dict[str, str] = {}


def _entry(rule: str, status: str, detail: str) -> TraceEntry:
    return TraceEntry(rule, "cap" if rule == "visit_cap" else "rule", status, detail, _SOURCE[rule])


def use_sources(names: Iterable[str]) -> None:
    """Name the guideline files as a loaded Schedule does (its `sources`), and rebuild the constant entries."""
    global _CPMTG_SRC, _LC_SRC
    for name in names:
        if name.endswith("cpmtg_2009.mtus"):
            _CPMTG_SRC = name
        elif name.endswith("labor_code.mtus"):
            _LC_SRC = name
    _build_constants()


def _build_constants() -> None:
    global _NO_CRPS, _NO_NEURITIS, _NO_MYALGIA, _CAP_OLD_INJURY
    # Rule source lines in the shipped files.
    _SOURCE.update({
        _CRPS: f"{_CPMTG_SRC}:65",
        _NEURITIS: f"{_CPMTG_SRC}:53",
        _MYALGIA: f"{_CPMTG_SRC}:60",
        _GENERAL: f"{_CPMTG_SRC}:49",
        "visit_cap": f"{_LC_SRC}:15",
    })
    # Trace entries that do not depend on the case, built once.
    _GOVERNS.update({r: _entry(r, "governs", "applies to this request") for r in _LIMIT})
    _NO_CRPS = _entry(_CRPS, "not_applicable", "its condition 'crps in conditions' does not hold")
    _NO_NEURITIS = _entry(_NEURITIS, "not_applicable", "its condition 'neuritis_type' does not hold")
    _NO_MYALGIA = _entry(_MYALGIA, "not_applicable", "its condition 'myalgia in conditions' does not hold")
    _POST.update({r: _entry(r, "not_applicable", _EXCEPT_POST) for r in (*_LIMIT, "visit_cap")})
    _OVERRIDDEN.update({
        (r, by): _entry(r, "not_applicable", _OVERRIDDEN_BY[by]) for r in _LIMIT for by in (_CRPS, _NEURITIS, _MYALGIA)
    })
    _CAP_OLD_INJURY = _entry("visit_cap", "not_applicable", "its condition 'injury_date >= 2004-01-01' does not hold")


_GOVERNS: dict[str, TraceEntry] = {}
_POST: dict[str, TraceEntry] = {}
_OVERRIDDEN: dict[tuple[str, str], TraceEntry] = {}
_NO_CRPS = _NO_NEURITIS = _NO_MYALGIA = _CAP_OLD_INJURY = TraceEntry("", "", "", "", "")
_build_constants()


class _Missing(frozenset[str]):
    """A value the case does not give: the set of fields it depends on."""


def _join(a: Any, b: Any) -> _Missing:
    if a.__class__ is _Missing:
        return _Missing(a | b) if b.__class__ is _Missing else a
    return b  # type: ignore[no-any-return]


def _names(fields: frozenset[str]) -> str:
    names = sorted(fields)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def _add_months(date: datetime.date, months: int) -> datetime.date:
    index = date.year * 12 + date.month - 1 + months
    year, month = divmod(index, 12)
    return datetime.date(year, month + 1, min(date.day, calendar.monthrange(year, month + 1)[1]))


def _conditions(values: Mapping[str, Any]) -> Any:
    condition = values.get("condition")
    diagnoses = values.get("diagnoses")
    if diagnoses is None:
        # A condition word alone cannot rule out a diagnosis that adds another condition.
        return _Missing(("diagnoses",))
    found = set()
    if condition is not None:
        found.add(condition)
    if diagnoses is not None:
        for code in diagnoses:
            name = _EXACT.get(code)
            if name is not None:
                found.add(name)
            for prefix, name in _PREFIXES:
                if code.startswith(prefix):
                    found.add(name)
    return found


def _qualifying_surgery(values: Mapping[str, Any], region: str, date: datetime.date) -> Any:
    """The latest surgery on this region whose postsurgical period covers the request; _Missing if unknown."""
    surgeries = values.get("surgeries")
    if surgeries is None:
        return _Missing(("surgeries",))
    latest = None
    for surgery in surgeries:
        s = surgery.values
        if s["body_region"] != region or s["date"] > date:
            continue
        months = _POSTSURGICAL_MONTHS.get((s["procedure"], region), _DEFAULT_POSTSURGICAL_MONTHS)
        if date <= _add_months(s["date"], months) and (latest is None or s["date"] > latest.values["date"]):
            latest = surgery
    return latest


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _needs(case: Case, quantity: int, missing: frozenset[str], trace: list[TraceEntry]) -> Decision:
    return Decision(
        case.id,
        Outcome.NEEDS_INFORMATION,
        quantity,
        0,
        (),
        f"The decision depends on {_names(missing)}, which the case does not give; "
        f"supply {'them' if len(missing) > 1 else 'it'} and ask again.",
        tuple(sorted(missing)),
        tuple(trace),
        (),
        "visits",
    )


def _not_addressed(case: Case, trace: list[TraceEntry], out_of_force: bool) -> Decision:
    v = case.values
    service = v["service"].replace("_", " ")
    region = v["body_region"].replace("_", " ")
    if out_of_force:
        # Only the CPMTG 2009 has an end date in the benchmark corpus.
        text = (
            f"No encoded rule in force on {v['request_date'].isoformat()} governs {service} for the {region}: "
            f"Chronic Pain Medical Treatment Guidelines (2009) is not in force on that date. "
            f"The corpus has: {_EDITIONS}."
        )
    else:
        text = (
            f"The encoded MTUS does not address {service} for the {region} in this case; "
            "under 8 CCR 9792.21(d) the reviewer looks to other evidence-based guidelines."
        )
    # The unit of the service's section; a service no section covers counts plain "units".
    unit = "visits" if v["service"] in _CAP_SERVICES else "units"
    return Decision(case.id, Outcome.NOT_ADDRESSED, v["quantity"], 0, (), text, (), tuple(trace), (), unit)


def _surgeries_text(surgeries: Any) -> str:
    items = [
        f"{s.values['procedure'].replace('_', ' ')}, {s.values['body_region'].replace('_', ' ')}, "
        f"{s.values['date'].isoformat()}"
        for s in surgeries
    ]
    if not items:
        return "none"
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def decide(case: Case) -> Decision:
    """Decide a validated physical-medicine request exactly as the shipped corpus does."""
    v = case.values
    service = v["service"]
    quantity = v["quantity"]
    if service not in _PM_SERVICES:
        # Chiropractic has only the Labor Code cap, and a cap never governs: nothing addresses it.
        return _not_addressed(case, [], False)
    date = v["request_date"]
    if not _CPMTG_FROM <= date <= _CPMTG_TO:
        detail = _NOT_IN_FORCE + date.isoformat()
        return _not_addressed(case, [_entry(r, "not_in_force", detail) for r in (_CRPS, _NEURITIS, _MYALGIA, _GENERAL)],
                              True)
    region = v["body_region"]

    surgery = _qualifying_surgery(v, region, date)
    post: Any = surgery if surgery.__class__ is _Missing else surgery is not None
    conditions = _conditions(v)
    trace: list[TraceEntry] = []
    governing = None
    missing: Any = None  # _Missing when some rule depends on what the case does not give

    if conditions.__class__ is not _Missing and post is False:
        # The common case: everything the rules read is known.
        if "crps" in conditions:
            governing = _CRPS
            trace += (_GOVERNS[_CRPS],
                      _NO_NEURITIS if _neuritis_type(conditions, v) is False else _OVERRIDDEN[_NEURITIS, _CRPS],
                      _OVERRIDDEN[_MYALGIA, _CRPS] if "myalgia" in conditions else _NO_MYALGIA,
                      _OVERRIDDEN[_GENERAL, _CRPS])
        else:
            neuritis = _neuritis_type(conditions, v)
            myalgia = "myalgia" in conditions
            if neuritis is True:
                governing = _NEURITIS
                trace += (_NO_CRPS, _GOVERNS[_NEURITIS],
                          _OVERRIDDEN[_MYALGIA, _NEURITIS] if myalgia else _NO_MYALGIA,
                          _OVERRIDDEN[_GENERAL, _NEURITIS])
            elif neuritis is False:
                trace += (_NO_CRPS, _NO_NEURITIS)
                if myalgia:
                    governing = _MYALGIA
                    trace += (_GOVERNS[_MYALGIA], _OVERRIDDEN[_GENERAL, _MYALGIA])
                else:
                    governing = _GENERAL
                    trace += (_NO_MYALGIA, _GOVERNS[_GENERAL])
            else:  # a disc displacement without saying whether there are radicular findings
                missing = neuritis
                trace += (_NO_CRPS, _unknown(_NEURITIS, neuritis))
                trace.append(_unknown(_MYALGIA, neuritis) if myalgia else _NO_MYALGIA)
                trace.append(_unknown(_GENERAL, neuritis))
    elif post is True:
        crps = _member("crps", conditions)
        trace.append(_NO_CRPS if crps is False else _POST[_CRPS])
        neuritis = _neuritis_type(conditions, v)
        trace.append(_NO_NEURITIS if neuritis is False else _POST[_NEURITIS])
        myalgia = _member("myalgia", conditions)
        trace.append(_NO_MYALGIA if myalgia is False else _POST[_MYALGIA])
        trace.append(_POST[_GENERAL])
    else:
        governing, missing = _decide_incomplete(conditions, post, v, trace)

    if governing is None:
        if missing is not None:
            return _needs(case, quantity, missing, trace)
        return _not_addressed(case, trace, False)

    # The governing rule's allowance.
    limit = _LIMIT[governing]
    prior = v.get("prior_visits")
    if prior is None:
        # The rule governs but its count is unknown: that one entry replaces "governs".
        trace[trace.index(_GOVERNS[governing])] = _entry(governing, "unknown", "its limit depends on prior_visits")
        return _needs(case, quantity, frozenset(("prior_visits",)), trace)
    allowed = limit - prior if prior < limit else 0
    approved = quantity if quantity < allowed else allowed

    # The Labor Code cap: 24 visits per injury over all regions, not for post-surgical requests.
    cap_binds = False
    cap_prior = cap_allowed = 0
    if approved > 0:
        injury = v.get("injury_date")
        if date < _LC_FROM:
            trace.append(_entry("visit_cap", "not_in_force",
                                f"California Labor Code (section 4604.5) is not in force on {date.isoformat()}"))
        elif injury is not None and injury < _CAP_INJURY_FROM:
            trace.append(_CAP_OLD_INJURY)
        else:
            cap_prior = v.get("prior_visits_all_regions")
            if cap_prior is not None:
                cap_allowed = _CAP_VISITS - cap_prior if cap_prior < _CAP_VISITS else 0
            # A cap that allows no less than the request, or more than the limit, does not hold it
            # down; one that ties with the limit binds too (and is cited) if it surely applies.
            if cap_prior is not None and (cap_allowed >= quantity or cap_allowed > approved
                                          or (cap_allowed == approved and injury is None)):
                status = "applies" if injury is not None else "unknown"
                trace.append(_entry("visit_cap", status, f"allows {cap_allowed} more visits; does not bind"))
            elif injury is None or cap_prior is None:
                gaps = frozenset(n for n, x in (("injury_date", injury), ("prior_visits_all_regions", cap_prior))
                                 if x is None)
                trace.append(_entry("visit_cap", "unknown", f"may bind; depends on {_names(gaps)}"))
                return _needs(case, quantity, gaps, trace)
            else:
                approved = cap_allowed
                cap_binds = True
                trace.append(_entry("visit_cap", "binds", f"allows {cap_allowed} more visits"))

    if approved == quantity:
        outcome = Outcome.CERTIFY
    elif approved == 0:
        outcome = Outcome.NON_CERTIFY
    else:
        outcome = Outcome.MODIFY
    rationale = (
        f"{quantity} visits requested; MTUS supports {_SUPPORTS[governing]}; "
        f"{prior} already given for this region, so {allowed} remain."
    )
    if cap_binds:
        rationale += (
            f" The Labor Code allows 24 visits of this service per industrial injury; "
            f"{cap_prior} already given over all body regions, so {cap_allowed} remain."
        )
    rationale += (
        f" The request is not post-surgical: only a surgery on the {region.replace('_', ' ')} whose postsurgical "
        f"period covers {date.isoformat()} would make it so, and the case's surgeries "
        f"({_surgeries_text(v['surgeries'])}) do not."
    )
    return Decision(
        case.id,
        outcome,
        quantity,
        approved,
        (_PM_CITATION, _CAP_CITATION) if cap_binds else (_PM_CITATION,),
        rationale,
        (),
        tuple(trace),
        (governing, "visit_cap") if cap_binds else (governing,),
        "visits",
    )


def _member(name: str, conditions: Any) -> Any:
    return conditions if conditions.__class__ is _Missing else name in conditions


def _neuritis_type(conditions: Any, v: Mapping[str, Any]) -> Any:
    """Neuritis, radiculopathy, or a disc displacement with radicular findings (True, False or _Missing)."""
    if conditions.__class__ is _Missing:
        radicular = v.get("radicular_findings")
        return conditions if radicular is not None else _Missing(conditions | {"radicular_findings"})
    if "neuritis" in conditions or "lumbar_disc_radiculopathy" in conditions:
        return True
    if "lumbar_disc_displacement" not in conditions:
        return False
    radicular = v.get("radicular_findings")
    return _Missing(("radicular_findings",)) if radicular is None else radicular


def _unknown(rule: str, missing: frozenset[str]) -> TraceEntry:
    return _entry(rule, "unknown", f"depends on {_names(missing)}, which the case does not give")


def _decide_incomplete(
    conditions: Any, post: Any, v: Mapping[str, Any], trace: list[TraceEntry] | None
) -> tuple[Any, Any]:
    """The rare case where the conditions or the post-surgical status are unknown: work out what is missing.

    With `trace` None (decide_outcome) no trace entries are made.
    """
    if trace is None:
        trace = _NoTrace()
    # Each rule: its `when` value (True, False or _Missing), then `unless post_surgical`, then the rules it yields to.
    whens = {
        _CRPS: _member("crps", conditions),
        _NEURITIS: _neuritis_type(conditions, v),
        _MYALGIA: _member("myalgia", conditions),
        _GENERAL: True,
    }
    yields = {_CRPS: (), _NEURITIS: (_CRPS,), _MYALGIA: (_NEURITIS, _CRPS), _GENERAL: (_NEURITIS, _MYALGIA, _CRPS)}
    applies: dict[str, Any] = {}
    governing = None
    missing: Any = None
    for rule in (_CRPS, _NEURITIS, _MYALGIA, _GENERAL):
        when = whens[rule]
        if when is False:
            applies[rule] = False
            trace.append({_CRPS: _NO_CRPS, _NEURITIS: _NO_NEURITIS, _MYALGIA: _NO_MYALGIA}[rule])
            continue
        value: Any = True if when is True else when
        if post is True:
            applies[rule] = False
            trace.append(_POST[rule])
            continue
        value = _join(value, post) if post is not False else value
        overridden = None
        for other in yields[rule]:
            if applies[other] is True:
                overridden = other
                break
            if applies[other] is not False:
                value = _join(value, applies[other])
        if overridden is not None:
            applies[rule] = False
            trace.append(_OVERRIDDEN[rule, overridden])
        elif value is True:
            applies[rule] = True
            governing = rule
            trace.append(_GOVERNS[rule])
        else:
            applies[rule] = value
            missing = value if missing is None else _join(missing, value)
            trace.append(_unknown(rule, value))
    return governing, missing


class _NoTrace(list):  # type: ignore[type-arg]
    """A trace that keeps nothing: the outcome-only path of the rare incomplete case."""

    def append(self, _entry: Any) -> None:
        pass


_NOT_ADDRESSED = (Outcome.NOT_ADDRESSED, 0)
_NEEDS_INFORMATION = (Outcome.NEEDS_INFORMATION, 0)


def decide_outcome(case: Case) -> tuple[Outcome, int]:
    """The same decision as `decide`, stopping at (outcome, approved): no rationale, citations or trace."""
    v = case.values
    if v["service"] not in _PM_SERVICES:
        return _NOT_ADDRESSED
    date = v["request_date"]
    if not _CPMTG_FROM <= date <= _CPMTG_TO:
        return _NOT_ADDRESSED
    surgery = _qualifying_surgery(v, v["body_region"], date)
    post: Any = surgery if surgery.__class__ is _Missing else surgery is not None
    conditions = _conditions(v)
    if conditions.__class__ is not _Missing and post is False:
        if "crps" in conditions:
            governing = _CRPS
        else:
            neuritis = _neuritis_type(conditions, v)
            if neuritis is True:
                governing = _NEURITIS
            elif neuritis is False:
                governing = _MYALGIA if "myalgia" in conditions else _GENERAL
            else:  # a disc displacement without saying whether there are radicular findings
                return _NEEDS_INFORMATION
    elif post is True:
        return _NOT_ADDRESSED
    else:
        governing, missing = _decide_incomplete(conditions, post, v, None)
        if governing is None:
            return _NEEDS_INFORMATION if missing is not None else _NOT_ADDRESSED

    prior = v.get("prior_visits")
    if prior is None:
        return _NEEDS_INFORMATION
    limit = _LIMIT[governing]
    quantity = v["quantity"]
    allowed = limit - prior if prior < limit else 0
    approved = quantity if quantity < allowed else allowed
    if approved > 0 and date >= _LC_FROM:
        injury = v.get("injury_date")
        if injury is None or injury >= _CAP_INJURY_FROM:
            cap_prior = v.get("prior_visits_all_regions")
            if cap_prior is None:
                return _NEEDS_INFORMATION
            cap_allowed = _CAP_VISITS - cap_prior if cap_prior < _CAP_VISITS else 0
            if cap_allowed < approved:
                if injury is None:
                    return _NEEDS_INFORMATION
                approved = cap_allowed
    if approved == quantity:
        return (Outcome.CERTIFY, approved)
    if approved == 0:
        return (Outcome.NON_CERTIFY, 0)
    return (Outcome.MODIFY, approved)


def decide_dict(data: Mapping[str, Any], schema: CaseSchema) -> Decision:
    """Validate a dict against the corpus's case format, then decide it."""
    return decide(Case.from_dict(data, schema))
