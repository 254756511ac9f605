"""The decision plan and the one procedure that executes it, for the interpreter and compiled code alike.

A plan is data: the guideline editions, the rules and caps in priority order
(an exception before every rule it overrides), each with its citation and the
functions that evaluate its guard and its limit. The interpreter builds those
functions as closures over the IR; compiled code writes them as Python. The
procedure below (dispatch, first match, limits, trials, caps, outcome) is the
only one there is: both backends run it, and so does every compiled module.

Conflicts are compile-time errors, so the first rule in priority order that
applies governs: the procedure stops there. Explanation (rationale, citations,
trace) is rendered only when a caller reads it (`text.Explanation`).
"""

from __future__ import annotations

import datetime
import enum
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import attrs

from mtus_dsl import completions
from mtus_dsl.case import Case, CaseSchema, InputSpec
from mtus_dsl.completions import Boundaries, Resolution
from mtus_dsl.decision import Assumption, Citation, Decision, Outcome
from mtus_dsl.provenance import UNRECORDED, Provenance
from mtus_dsl.runtime import NOT_IN_FORCE, OUT_OF_SCOPE, CodeIndex, RuleError, Unknown, join
from mtus_dsl.text import Explanation


class ActionKind(enum.StrEnum):
    """What a rule does with a request."""

    LIMIT = "limit"  # operands: amount, period, prior
    TRIAL = "trial"  # operands: initial, initial period, total, total period, extension, prior
    CERTIFY = "certify"
    NON_CERTIFY = "non_certify"


@attrs.frozen
class GuidelineMeta:
    """A guideline edition as the runtime needs it: names and dates in force."""

    name: str
    title: str
    edition: str
    regulation: str | None = None
    in_force_from: datetime.date | None = None
    in_force_to: datetime.date | None = None

    def in_force(self, date: datetime.date) -> bool:
        """Tell whether this edition governs requests dated `date`."""
        if self.in_force_from is not None and date < self.in_force_from:
            return False
        return self.in_force_to is None or date <= self.in_force_to

    def describe(self) -> str:
        """Name the edition and its dates, for not_addressed answers."""
        start = self.in_force_from.isoformat() if self.in_force_from else "always"
        end = self.in_force_to.isoformat() if self.in_force_to else "today"
        return f"{self.title} ({self.edition}), in force {start} to {end}"


#: A guard: (True | False | Unknown, the index of the clause that ruled the rule out, or -1).
Guard = Callable[["Facts"], tuple[Any, int]]
#: A limit's operands, in the order ActionKind names them.
Operands = Callable[["Facts"], tuple[Any, ...]]
#: A rationale rendered from the facts and the decision's numbers.
Render = Callable[["Facts", Mapping[str, Any]], str]

@attrs.frozen(eq=False)  # a rule is itself: compared and hashed by identity
class Rule:
    """A rule or cap of the plan: identity, citation, scope, and the functions of its guard and limit."""

    name: str
    kind: str  # "rule" | "cap"
    guideline: str
    citation: Citation
    action: ActionKind
    unit: str
    source: str  # path:line, as traces show it
    guard: Guard
    operands: Operands | None = None  # limits and trials
    rationale: Render | None = None
    reasons: tuple[str, ...] = ()  # why it does not apply, per when/unless clause
    explained: tuple[str, ...] = ()  # facts whose explanation joins the rationale
    services: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # the inputs and facts its guard and limit read, for RuleError
    column: int = 1
    #: Each when/unless clause (the guard's clause indices): its text, what it reads, the conditions it names.
    clauses: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()


@attrs.frozen(eq=False)
class Fact:
    """A derived fact of the plan: how to compute it, and how to explain its value."""

    name: str
    derive: Callable[[Facts], Any]
    explain: Callable[[Facts, Any], str | None] | None = None
    source: str = ""  # path:line:col
    reads: tuple[str, ...] = ()
    #: Every input it can read, transitively (lower.fact_inputs); None: not known, so any input may change it.
    inputs: tuple[str, ...] | None = None


@attrs.frozen
class Plan:
    """Everything that decides: the case format, editions, facts and rules in priority order."""

    schema: CaseSchema
    guidelines: tuple[GuidelineMeta, ...]
    facts: tuple[Fact, ...]
    rules: tuple[Rule, ...]
    #: A fast validator of case dicts (generated per schema), or None for the general one.
    validate: Callable[[Any], Case] | None = None
    #: Where the rules can change their answer: what exact needs_information completes unknown inputs with.
    boundaries: Boundaries = attrs.Factory(Boundaries)
    #: The code sets by code: which diagnosis made a condition hold, for the trace.
    codes: CodeIndex | None = None
    #: The mtus-dsl that compiled the plan and the hash of its sources (a decision adds its editions).
    provenance: Provenance = UNRECORDED


class Allowance(NamedTuple):
    """What a limit allows one case: its number, the prior units counted, what remains, its period."""

    limit: int
    prior: int
    allowed: int
    period: Any


@attrs.frozen(slots=False)  # not slotted: `boundaries` is cached on the instance
class Bucket:
    """The rules and caps that may decide requests for one service and body region."""

    rules: tuple[Rule, ...]
    caps: tuple[Rule, ...]
    #: Each rule with its guard and the first and last request date its edition is in force:
    #: what the procedure reads for every case, unpacked once.
    steps: tuple[tuple[Rule, Guard, datetime.date, datetime.date], ...]
    #: The plan's boundaries, from which the bucket's own are scoped; None: the search uses the plan's.
    plan_boundaries: Boundaries | None = None

    @functools.cached_property
    def boundaries(self) -> Boundaries | None:
        """The values its rules can tell apart (what the needs_information search tries); None: the plan's.

        Made on the bucket's first search, not when the plan loads: most buckets never need one.
        """
        if self.plan_boundaries is None:
            return None
        return self.plan_boundaries.scoped([r.name for r in (*self.rules, *self.caps)])

    @property
    def unit(self) -> str:
        """What requests here count (visits, treatments, days): the unit of the first rule."""
        first = self.rules or self.caps
        return first[0].unit if first else "units"


class Facts(dict[str, Any]):
    """The facts of one case: inputs as given, absent ones unknown, derived facts computed on first use.

    Each engine makes its own subclass carrying the plan's derivations, so making
    the facts of a case is one dict copy.
    """

    __slots__ = ("verdicts",)
    verdicts: dict[str, tuple[Any, int]]  # rule name -> its guard's verdict, once checked
    engine: Engine
    derivations: Mapping[str, Fact]
    derivers: Mapping[str, Callable[[Facts], Any]]
    unknowns: Mapping[str, Unknown]

    def __missing__(self, name: str) -> Any:
        derive = self.derivers.get(name)
        if derive is None:
            value: Any = self.unknowns[name]
        else:
            try:
                value = derive(self)
            except RuleError as error:
                fact = self.derivations[name]
                raise locate(error, f"fact '{name}'", fact.source, fact.reads, self) from None
        self[name] = value
        return value

    def applies(self, rule: str) -> Any:
        """Whether `rule` applies to this case (what `unless RULE` and `overrides` ask): True, False or Unknown."""
        verdict = self.verdicts.get(rule)
        if verdict is None:
            engine = self.engine
            if (self["service"], self["body_region"]) in engine.scopes[rule]:
                verdict = engine.check(engine.rules[rule], self)
            else:
                # A rule applies only to the services and body regions it covers.
                verdict = self.verdicts[rule] = (False, OUT_OF_SCOPE)
        return verdict[0]


def locate(error: RuleError, where: str, source: str, reads: tuple[str, ...], facts: Facts) -> RuleError:
    """Give a RuleError the rule or fact that raised it and the values it had read (the innermost wins)."""
    if error.where is not None:
        return error
    values = {name: dict.get(facts, name) for name in sorted(reads) if name in facts}
    located = RuleError(error.message, where=where, source=source, values=values)
    located.__traceback__ = error.__traceback__
    return located


_FAR_PAST = datetime.date.min
_FAR_FUTURE = datetime.date.max


class Settled(NamedTuple):
    """What the procedure concluded for one case: all a Decision needs besides its explanation."""

    outcome: Outcome
    approved: int
    rule: Rule | None  # the governing rule (also when its limit was unknown)
    allowance: Allowance | None
    caps: tuple[tuple[Rule, Allowance], ...]  # caps that apply and hold the request down
    binding: tuple[tuple[Rule, Allowance], ...]  # those among them that allow exactly what is approved
    events: tuple[tuple[Any, ...], ...]  # caps passed over: (cap, what, value), for the trace
    missing: frozenset[str]


class Engine:
    """Execute a plan: decide cases, or only their outcome."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.schema = plan.schema
        self.guidelines = {g.name: g for g in plan.guidelines}
        self.rules = {r.name: r for r in plan.rules}
        self.facts_plan = {f.name: f for f in plan.facts}
        self.input_names = tuple(spec.name for spec in plan.schema.inputs)
        self.specs: dict[str, InputSpec] = {spec.name: spec for spec in plan.schema.inputs}
        self.declared = {name: index for index, name in enumerate(self.input_names)}
        windows = {}
        for rule in plan.rules:
            g = self.guidelines[rule.guideline]
            windows[rule.name] = (g.in_force_from or _FAR_PAST, g.in_force_to or _FAR_FUTURE)
        # The dispatch index: each rule filed under every (service, body region) it covers, in
        # priority order. A decision looks at its own bucket only, however large the plan.
        filed: dict[tuple[str, str], tuple[list[Rule], list[Rule]]] = {}
        self.scopes: dict[str, set[tuple[str, str]]] = {name: set() for name in self.rules}
        for rule in plan.rules:
            for service in rule.services:
                for region in rule.regions:
                    key = (service, region)
                    rules, caps = filed.setdefault(key, ([], []))
                    (caps if rule.kind == "cap" else rules).append(rule)
                    self.scopes[rule.name].add(key)
        self.buckets = {
            key: Bucket(tuple(rules), tuple(caps), tuple((r, r.guard, *windows[r.name]) for r in rules),
                        plan.boundaries)
            for key, (rules, caps) in filed.items()
        }
        self.windows = windows
        #: Trace entries that do not depend on the case, by rule: made on first use (text._fixed).
        self.fixed_entries: dict[str, tuple[Any, ...]] = {}
        self.facts_class: type[Facts] = type(
            "Facts",
            (Facts,),
            {
                "__slots__": (),
                "engine": self,
                "derivations": self.facts_plan,
                "derivers": {f.name: f.derive for f in plan.facts},
                # One Unknown per input, made once: a missing input depends on itself.
                "unknowns": {name: Unknown(frozenset([name])) for name in self.input_names},
            },
        )
        self.validate: Callable[[Any], Case] = plan.validate or (lambda data: Case.from_dict(data, self.schema))
        self._kept: dict[str, frozenset[str]] = {}

    def kept(self, name: str) -> frozenset[str]:
        """The derived facts that keep their value when the input `name` is completed: none can read it."""
        kept = self._kept.get(name)
        if kept is None:
            kept = self._kept[name] = frozenset(
                fact.name for fact in self.plan.facts if fact.inputs is not None and name not in fact.inputs)
        return kept

    # --- the entry points -----------------------------------------------------------
    def case(self, data: Case | Mapping[str, Any]) -> Case:
        """Validate a case (a Case not validated against this case format is checked again); raise CaseError."""
        return data.validated_for(self.schema) if isinstance(data, Case) else self.validate(data)

    def facts(self, case: Case) -> Facts:
        """Return the facts of a validated case, absent inputs unknown."""
        facts = self.facts_class(case.values)
        facts.verdicts = {}
        return facts

    def decide(self, case: Case | Mapping[str, Any], on_record: bool = False) -> Decision:
        """Decide one request; its rationale, citations and trace are rendered when first read.

        An answer that depends on inputs the case does not give is searched over
        their values: needs_information names only the inputs that can change it.
        `on_record` reads absent inputs as their declarations say (on record ...)
        instead of asking for them, and lists what it assumed.
        """
        case, bucket = self._dispatch(case)
        values = case.values
        if bucket is None:
            settled = _UNADDRESSED
            facts = None
        else:
            facts = self.facts_class(values)
            settled = self.settle(facts, bucket, values["quantity"])
            if settled.outcome is Outcome.NEEDS_INFORMATION:
                return self._decide_unknown(case, bucket, facts, settled, on_record)
        return self._decision(case.id, values, facts, bucket, settled)

    def exhausted(self, case: Case | Mapping[str, Any]) -> bool:
        """Whether deciding the case searches past the budget (its needs_information may then ask for more)."""
        case, bucket = self._dispatch(case)
        if bucket is None:
            return False
        facts = self.facts_class(case.values)
        settled = self.settle(facts, bucket, case.values["quantity"])
        if settled.outcome is not Outcome.NEEDS_INFORMATION:
            return False
        return completions.resolve(self, case.values, bucket, settled, facts=facts).exhausted

    def three_valued(self, case: Case | Mapping[str, Any]) -> Decision:
        """Decide by three-valued logic alone, not searching unknown inputs: needs_information whenever a rule
        consulted reads one (what the SQL backend computes; `decide` then searches those rows)."""
        case, bucket = self._dispatch(case)
        if bucket is None:
            return self._decision(case.id, case.values, None, None, _UNADDRESSED)
        facts = self.facts_class(case.values)
        return self._decision(case.id, case.values, facts, bucket, self.settle(facts, bucket, case.values["quantity"]))

    def _decision(self, case_id: str | None, values: Mapping[str, Any], facts: Facts | None, bucket: Bucket | None,
                  settled: Settled, assumed: tuple[Assumption, ...] = ()) -> Decision:
        rule = settled.rule
        if settled.outcome is Outcome.NEEDS_INFORMATION:
            rules: tuple[str, ...] = ()
            unit = rule.unit if rule is not None else bucket.unit if bucket is not None else "units"
        elif rule is None:
            rules = ()
            unit = bucket.unit if bucket is not None else "units"
        else:
            rules = (rule.name, *[cap.name for cap, _ in settled.binding]) if settled.binding else (rule.name,)
            unit = rule.unit
        return Decision.deferred(
            case_id,
            settled.outcome,
            values["quantity"],
            settled.approved,
            tuple(sorted(settled.missing)),
            rules,
            unit,
            Explanation(self, values, facts, bucket, settled, assumed=assumed),
            assumed,
        )

    def _decide_unknown(self, case: Case, bucket: Bucket, facts: Facts, settled: Settled,
                        on_record: bool) -> Decision:
        """Decide a case the three-valued procedure left open: search its completions, read the record."""
        values, facts, settled, resolution, assumed = self._resolve(case.values, bucket, facts, settled, on_record)
        if resolution is None or resolution.missing:
            if resolution is not None:
                settled = settled._replace(missing=resolution.missing)
            return self._decision(case.id, values, facts, bucket, settled, assumed)
        leaves = resolution.leaves
        if leaves[0].error is not None:
            raise leaves[0].error  # a rule fails whatever the unknown inputs are
        first = leaves[0].settled
        rules: dict[str, None] = {}
        for leaf in leaves:
            governing = leaf.settled.rule
            if governing is not None:
                rules.setdefault(governing.name, None)
                for cap, _ in leaf.settled.binding:
                    rules.setdefault(cap.name, None)
        rule = first.rule
        unit = rule.unit if rule is not None else bucket.unit
        return Decision.deferred(
            case.id,
            first.outcome,
            values["quantity"],
            first.approved,
            (),
            tuple(rules),
            unit,
            Explanation(self, values, facts, bucket, settled, leaves=leaves, assumed=assumed),
            assumed,
        )

    def _resolve(
        self, values: Mapping[str, Any], bucket: Bucket, facts: Facts, settled: Settled, on_record: bool,
        first_difference: bool = False,
    ) -> tuple[Mapping[str, Any], Facts, Settled, Resolution | None, tuple[Assumption, ...]]:
        """Search the completions of an open case; on the record, read what matters and is absent, and again.

        Returns the values decided (with what was read), their facts and three-valued
        settlement, the search's resolution (None: reading the record settled it), and
        what was assumed.
        """
        assumed: list[Assumption] = []
        resolution = completions.resolve(self, values, bucket, settled, first_difference and not on_record, facts=facts)
        while on_record and resolution.missing:
            # Read one absent input at a time, the one that settles the most: a reading the answer
            # turns out not to need is never assumed.
            # Ties go to the input declared first (the case format's own before a guideline's).
            best: tuple[tuple[int, int, int], dict[str, Any], list[Assumption], Facts, Settled,
                        Resolution | None] | None = None
            for name in sorted(resolution.missing):
                read, took = dict(values), list[Assumption]()
                self._reading(name, read, took, frozenset())
                if not took:
                    continue
                trial_facts = self.facts_class(read)
                trial = self.settle(trial_facts, bucket, read["quantity"])
                after = None
                if trial.outcome is Outcome.NEEDS_INFORMATION:
                    after = completions.resolve(self, read, bucket, trial, facts=trial_facts)
                score = (len(after.missing) if after is not None else 0, len(took), self.declared[name])
                if best is None or score < best[0]:
                    best = (score, read, took, trial_facts, trial, after)
            if best is None:
                break  # nothing that matters has a reading: it stays needs_information
            _, values, took, facts, settled, after = best
            assumed.extend(took)
            if after is None:
                return values, facts, settled, None, tuple(assumed)
            resolution = after
        return values, facts, settled, resolution, tuple(assumed)

    def _reading(self, name: str, values: dict[str, Any], assumed: list[Assumption], seen: frozenset[str]) -> Any:
        """Read one absent input on the record (and the inputs its reading takes its value from)."""
        if name in values:
            return values[name]
        spec = self.specs[name]
        reading = spec.on_record
        if reading is None or name in seen:
            return _NO_READING
        if reading.source is not None:
            value = self._reading(reading.source, values, assumed, seen | {name})
            if value is _NO_READING:
                return _NO_READING
        else:
            value = reading.value
        for relation in self.schema.relations:
            # A read count keeps the declared relations with the counts the case gives.
            if relation.lower == name and isinstance(values.get(relation.upper), int):
                value = min(value, values[relation.upper])
            elif relation.upper == name and isinstance(values.get(relation.lower), int):
                value = max(value, values[relation.lower])
        values[name] = value
        assumed.append(Assumption(name, value, reading.reason))
        return value

    def outcome(self, case: Case | Mapping[str, Any], on_record: bool = False) -> tuple[Outcome, int]:
        """Decide only (outcome, approved): nothing else is built; the same answer as `decide`."""
        case, bucket = self._dispatch(case)
        if bucket is None:
            return (Outcome.NOT_ADDRESSED, 0)
        values = case.values
        facts = self.facts_class(values)
        settled = self.settle(facts, bucket, values["quantity"])
        if settled[0] is Outcome.NEEDS_INFORMATION:
            _, _, settled, resolution, _ = self._resolve(values, bucket, facts, settled, on_record, True)
            if resolution is not None and not resolution.missing:
                leaf = resolution.leaves[0]
                if leaf.error is not None:
                    raise leaf.error
                settled = leaf.settled
            elif resolution is not None:
                return (Outcome.NEEDS_INFORMATION, 0)
        return (settled[0], settled[1])

    def _dispatch(self, case: Case | Mapping[str, Any]) -> tuple[Case, Bucket | None]:
        """Validate a case (unless validated for this plan) and find the bucket of its service and body region."""
        # A Case built by hand or validated against another case format is never decided as it is.
        if case.__class__ is not Case or case._schema is not self.schema:
            case = self.case(case)
        assert isinstance(case, Case)
        values = case.values
        return case, self.buckets.get((values["service"], values["body_region"]))

    # --- the procedure --------------------------------------------------------------
    def check(self, rule: Rule, facts: Facts) -> tuple[Any, int]:
        """Check a rule's edition against the request date, then its guard; remember the verdict."""
        start, end = self.windows[rule.name]
        date = facts["request_date"]
        if date < start or date > end:
            verdict: tuple[Any, int] = (False, NOT_IN_FORCE)
        else:
            try:
                verdict = rule.guard(facts)
            except RuleError as error:
                raise locate(error, f"{rule.kind} '{rule.name}'", f"{rule.source}:{rule.column}", rule.reads,
                             facts) from None
        facts.verdicts[rule.name] = verdict
        return verdict

    def settle(self, facts: Facts, bucket: Bucket, quantity: int) -> Settled:
        """Decide a case within its bucket: the first rule that applies governs, then its limit, then the caps."""
        # The hot path of every decision: Engine.check inlined, tuples built without NamedTuple's __new__.
        date = facts["request_date"]
        verdicts = facts.verdicts = {}
        governing = None
        unknown = None
        for rule, guard, start, end in bucket.steps:
            if date < start or date > end:
                verdicts[rule.name] = _OUT_OF_FORCE
                continue
            try:
                verdict = verdicts[rule.name] = guard(facts)
            except RuleError as error:
                raise locate(error, f"{rule.kind} '{rule.name}'", f"{rule.source}:{rule.column}", rule.reads,
                             facts) from None
            value = verdict[0]
            if value is True:
                governing = rule
                break
            if value is not False:
                unknown = value if unknown is None else join(unknown, value)
        if governing is None:
            if unknown is not None:
                return _new(Settled, (Outcome.NEEDS_INFORMATION, 0, None, None, (), (), (), unknown.facts))
            return _UNADDRESSED
        allowance = self.allowance(governing, facts, quantity)
        if allowance.__class__ is Unknown:
            return _new(Settled, (Outcome.NEEDS_INFORMATION, 0, governing, None, (), (), (), allowance.facts))
        allowed = allowance[2]
        approved = quantity if quantity < allowed else allowed
        if approved > 0 and bucket.caps:
            caps: list[tuple[Rule, Allowance]] = []
            events: list[tuple[Any, ...]] = []
            approved, missing = self._apply_caps(facts, bucket, quantity, approved, caps, events)
            if missing:
                return _new(Settled, (Outcome.NEEDS_INFORMATION, 0, governing, allowance, (), (), tuple(events),
                                      missing))
            binding = tuple([c for c in caps if c[1][2] == approved]) if caps else ()
            settled = (tuple(caps), binding, tuple(events))
        else:
            settled = ((), (), ())
        if approved == quantity:
            outcome = Outcome.CERTIFY
        elif approved == 0:
            outcome = Outcome.NON_CERTIFY
        else:
            outcome = Outcome.MODIFY
        return _new(Settled, (outcome, approved, governing, allowance, *settled, _NOTHING))

    def _apply_caps(
        self,
        facts: Facts,
        bucket: Bucket,
        quantity: int,
        approved: int,
        caps: list[tuple[Rule, Allowance]],
        events: list[tuple[Any, ...]],
    ) -> tuple[int, frozenset[str]]:
        """Lower `approved` by every cap that holds it down; name the facts a cap that may bind depends on."""
        doubtful: list[tuple[Rule, Any, Any]] = []
        for cap in bucket.caps:
            applies = self.check(cap, facts)[0]
            if applies is False:
                events.append((cap, "off", None))
                continue
            result = self.allowance(cap, facts, quantity)
            if result.__class__ is not Unknown and (
                result.allowed >= quantity
                or result.allowed > approved
                or (result.allowed == approved and applies is not True)
            ):
                # It does not hold the request down. A cap that ties with the limit binds too
                # and is cited, but only if it surely applies: a tie cannot change the numbers,
                # so it never asks for facts.
                events.append((cap, "loose" if applies is True else "loose?", result.allowed))
                continue
            if applies.__class__ is Unknown or result.__class__ is Unknown:
                # Whether it binds is settled once the caps that surely apply have had their say.
                doubtful.append((cap, applies, result))
                continue
            caps.append((cap, result))
            approved = min(approved, result.allowed)
        missing: frozenset[str] = _NOTHING
        for cap, applies, result in doubtful:
            if result.__class__ is not Unknown and (
                result.allowed > approved or (result.allowed == approved and applies is not True)
            ):
                events.append((cap, "loose?", result.allowed))
                continue
            depends = join(applies, result).facts
            events.append((cap, "may bind", depends))
            missing = missing | depends
        return approved, missing

    def allowance(self, rule: Rule, facts: Facts, quantity: int) -> Any:
        """How many more units `rule` allows, or Unknown if that depends on facts the case does not give."""
        action = rule.action
        if action is _CERTIFY:
            return _new(Allowance, (quantity, 0, quantity, None))
        if action is _NON_CERTIFY:
            return _new(Allowance, (0, 0, 0, None))
        operands = rule.operands
        assert operands is not None
        try:
            ops = operands(facts)
        except RuleError as error:
            raise locate(error, f"{rule.kind} '{rule.name}'", f"{rule.source}:{rule.column}", rule.reads,
                         facts) from None
        if action is _LIMIT:
            amount, period, prior = ops
            if amount.__class__ is Unknown or prior.__class__ is Unknown or period.__class__ is Unknown:
                return join(amount, prior, period)
            if amount is None or prior is None:
                raise self._none(rule, facts)
            return _new(Allowance, (amount, prior, amount - prior if amount > prior else 0, period))
        if ops[0] is None or ops[2] is None or ops[5] is None:
            raise self._none(rule, facts)
        initial, initial_period, total, total_period, extension, prior = ops
        if prior.__class__ is Unknown or initial.__class__ is Unknown:
            return join(prior, initial)
        if prior < initial:
            if initial_period.__class__ is Unknown:
                return initial_period
            return _new(Allowance, (initial, prior, initial - prior, initial_period))
        if extension.__class__ is Unknown:
            return extension
        if extension is True:
            if total.__class__ is Unknown or total_period.__class__ is Unknown:
                return join(total, total_period)
            return _new(Allowance, (total, prior, max(0, total - prior), total_period))
        return _new(Allowance, (initial, prior, 0, initial_period))


    def _none(self, rule: Rule, facts: Facts) -> RuleError:
        """A limit whose number is none on this case (the checker asks for a guard; a guard may miss)."""
        error = RuleError("its number of units is none on this case (guard it with 'when ... exists')")
        return locate(error, f"{rule.kind} '{rule.name}'", f"{rule.source}:{rule.column}", rule.reads, facts)


#: Why a decision cannot be both three-valued and on the record (what `mtus decide` and `mtus audit` say).
THREE_VALUED_ON_RECORD = ("--three-valued and --on-record cannot go together: deciding on the record reads the facts "
                          "a case leaves out, where three-valued logic leaves them unknown")
_NOTHING: frozenset[str] = frozenset()
_NO_READING = object()  # an absent input the record gives no reading of
_UNADDRESSED = Settled(Outcome.NOT_ADDRESSED, 0, None, None, (), (), (), _NOTHING)
_OUT_OF_FORCE = (False, NOT_IN_FORCE)
_LIMIT, _CERTIFY, _NON_CERTIFY = ActionKind.LIMIT, ActionKind.CERTIFY, ActionKind.NON_CERTIFY
#: Build a NamedTuple from a tuple of its fields without its generated __new__ (a hot path).
_new = tuple.__new__
