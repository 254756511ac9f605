"""Straight-line decisions: the compiled fast path, one plain-Python function per list of rules.

The three-valued code in codegen.py handles every case. Most cases give every
fact their rules read, and for those a decision is ordinary Python: read the
inputs, compute the derived facts once, test each rule's clauses in order,
count units, fill the rationale, build the Decision. That is what this module
writes. The moment such a function meets something outside that path -- an
input the case does not give, an edition not in force, no rule or several
rules governing, a value it cannot compute -- it gives up (returns None) and
the engine decides the case on the three-valued path, which is always right.
So the fast path only has to agree with the engine where it answers; the
property tests compare both with the interpreter.
"""

from __future__ import annotations

from mtus_dsl.compiler import ir
from mtus_dsl.compiler.pysource import SourceWriter, comment
from mtus_dsl.decision import TraceEntry
from mtus_dsl.runtime import sentence, show

NUMBERS = ("requested", "approved", "limit", "prior", "allowed", "period", "unit")


class _Expressions:
    """Write IR expressions as plain Python over known values.

    `v` is the case's dict of given inputs (an absent one raises KeyError, which
    gives up), `m` memoises derived facts and rule results for one decision.
    """

    def __init__(self, literal: object, env: dict[str, str] | None = None, constants: dict[str, str] | None = None):
        self.literal = literal
        self.env = dict(env or {})
        self.count = 0
        # Values that cost a call to build (dates, durations, sets) are made once,
        # at module level: source text -> constant name.
        self.constants = constants if constants is not None else getattr(literal, "constants", {})
        # Rationale numbers whose text is known while compiling (a constant period).
        self.static: dict[str, str] = {}

    def constant(self, value: object) -> str:
        """Name a module-level constant holding `value`."""
        literal = self.literal
        assert callable(literal)
        code = str(literal(value))
        if "(" not in code:
            return code
        if code not in self.constants:
            self.constants[code] = f"_k{len(self.constants) + 1}"
        return self.constants[code]

    def expr(self, e: ir.Expr) -> str:
        """Return a Python expression computing `e` on the fast path."""
        literal = self.literal
        assert callable(literal)
        if isinstance(e, ir.Const):
            return self.constant(e.value)
        if isinstance(e, ir.Input):
            return f"v[{e.name!r}]"
        if isinstance(e, ir.Fact):
            return f"(m[{e.name!r}] if {e.name!r} in m else _ff_{e.name}(v, m))"
        if isinstance(e, ir.Var):
            return self.env[e.name]
        if isinstance(e, ir.Attr):
            return f"{self.expr(e.obj)}.values[{e.field!r}]"
        if isinstance(e, ir.Lookup):
            keys = "".join(self.expr(k) + ", " for k in e.keys)
            return f"_table_{e.table}.lookup(({keys}))"
        if isinstance(e, ir.Not):
            return f"(not {self.expr(e.operand)})"
        if isinstance(e, ir.And):
            return f"({self.expr(e.left)} and {self.expr(e.right)})"
        if isinstance(e, ir.Or):
            return f"({self.expr(e.left)} or {self.expr(e.right)})"
        if isinstance(e, ir.Compare):
            op = {"=": "==", "!=": "!="}.get(e.op, e.op)
            left, right = self.expr(e.left), self.expr(e.right)
            # Ordering none raises TypeError, which gives up (the engine reports it).
            return f"({left} {op} {right})"
        if isinstance(e, ir.Member):
            return f"({self.expr(e.item)} {'not in' if e.negated else 'in'} {self.expr(e.collection)})"
        if isinstance(e, ir.Exists):
            return f"({self.expr(e.operand)} is not None)"
        if isinstance(e, ir.Arith):
            left, right = self.expr(e.left), self.expr(e.right)
            if e.type.kind == "date":
                return f"_rt.add_duration({left}, {right}, {-1 if e.op == '-' else 1})"
            return f"_int({left} {e.op} {right})"
        if isinstance(e, ir.Div):
            return f"_rt.divide({self.expr(e.left)}, {self.expr(e.right)}, {e.rounding!r})"
        if isinstance(e, ir.Call):
            if e.func == "conditions_of":
                # These two inputs may be absent one at a time: the runtime
                # function knows what that means; an Unknown result gives up.
                args = ", ".join(
                    f"v.get({a.name!r}, _UNKNOWN[{a.name!r}])" if isinstance(a, ir.Input) else self.expr(a)
                    for a in e.args
                )
                return f"_known(_rt.conditions_of(_CODE_INDEX, {args}))"
            return f"_known(_rt.extremum({e.func!r}, [{', '.join(self.expr(a) for a in e.args)}]))"
        if isinstance(e, ir.Quant):
            return self._quantifier(e)
        if isinstance(e, ir.SetOf):
            return "frozenset({" + ", ".join(self.expr(i) for i in e.items) + "})"
        if isinstance(e, ir.Applies):
            # Set by the decision function for each rule of its list, in order;
            # a rule outside the list, or one whose answer is unknown, gives up.
            return f"_known(m[{'@' + e.rule!r}])"
        raise AssertionError(f"unhandled IR node {e!r}")

    def _quantifier(self, e: ir.Quant) -> str:
        self.count += 1
        var = f"_q{self.count}_{e.var}"
        saved = self.env.get(e.var)
        self.env[e.var] = var
        condition = self.expr(e.condition)
        if saved is None:
            del self.env[e.var]
        else:
            self.env[e.var] = saved
        collection = self.expr(e.collection)
        # Every item's condition is evaluated, as the engine does, so an error
        # in a later item is not skipped.
        if e.kind == "latest":
            return f"_latest([{var} for {var} in {collection} if {condition}])"
        if e.kind == "count":
            return f"len([{var} for {var} in {collection} if {condition}])"
        return f"{e.kind}([{condition} for {var} in {collection}])"

    def show(self, e: ir.Expr) -> str:
        """Render a value for a rationale, as runtime.show does, using its static type."""
        code = self.expr(e)
        kind = e.type.kind
        if e.type.optional or (isinstance(e, ir.Var) and e.name == "period"):
            return f"_show({code})"
        if kind == "integer":
            return f"str({code})"
        if kind in ("enum", "text", "code"):
            return f"{code}.replace('_', ' ')"
        if kind == "date":
            return f"{code}.isoformat()"
        return f"_show({code})"

    def template(self, template: ir.Template, as_sentence: bool = True) -> str:
        """A rationale or explanation as one string expression, made a sentence as the engine does."""
        template = tuple(
            self.static[p.name] if isinstance(p, ir.Var) and p.name in self.static else p for p in template
        )
        # Join neighbouring fixed texts, so a known number becomes part of the words.
        merged: list[str | ir.Expr] = []
        for part in template:
            if isinstance(part, str) and merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + part
            else:
                merged.append(part)
        template = tuple(merged)
        pieces = [repr(p) if isinstance(p, str) else self.show(p) for p in template]
        if not as_sentence:
            return "''.join([" + ", ".join(pieces) + "])"
        first, last = template[0] if template else "", template[-1] if template else ""
        # The engine capitalises each text and ends it with a period; when the
        # text starts with a fixed word (or a number) and ends with a fixed word,
        # do that here, once.
        if (
            not isinstance(first, str)
            and len(template) > 1
            and first.type.kind == "integer"
            and not first.type.optional
            and isinstance(last, str)
            and last[-1:].strip()
        ):
            if not last.endswith((".", "!", "?")):
                pieces[-1] = repr(last + ".")
            return "''.join([" + ", ".join(pieces) + "])"
        if isinstance(first, str) and isinstance(last, str) and first[:1].strip() and last[-1:].strip():
            pieces[0] = repr(first[0].upper() + first[1:]) if len(template) > 1 else repr(sentence(first))
            if len(template) > 1 and not last.endswith((".", "!", "?")):
                pieces[-1] = repr(last + ".")
            return "".join(["''.join([", ", ".join(pieces), "])"]) if len(pieces) > 1 else pieces[0]
        return "_sentence(''.join([" + ", ".join(pieces) + "]))"


class _Context:
    """The literal writer, with the module-level constants the fast path names."""

    def __init__(self, literal: object):
        assert callable(literal)
        self.literal = literal
        self.constants: dict[str, str] = {}

    def __call__(self, value: object) -> str:
        return str(self.literal(value))


def generate(program: ir.Program, literal: object) -> tuple[list[str], list[tuple[tuple[str, str], str]]]:
    """Write the fast path; return its source lines and the (service, body region) -> function dispatch."""
    literal = _Context(literal)
    w = SourceWriter()
    rules = {r.name: r for r in program.rules}
    guidelines = {g.name: g for g in program.guidelines}
    assert callable(literal)
    w.line("# --- straight-line decisions: plain Python when the case gives every fact they read ---")
    w.line("# Each returns None to hand the case to the engine's three-valued path.")
    w.line("_GIVE_UP = (KeyError, TypeError, AttributeError, _rt.RuleError, _GiveUp)")
    w.line("_CERTIFY, _MODIFY, _NON_CERTIFY = _Outcome.CERTIFY, _Outcome.MODIFY, _Outcome.NON_CERTIFY")
    w.line("_UNKNOWN = {name: _U(frozenset([name])) for name in _ENGINE.input_names}")
    w.line()
    w.line()
    w.line("def _latest(matches):")
    with w.indent():
        w.line("return max(matches, key=_rt.record_date) if matches else None")
    for fact in program.facts:
        _fact(w, fact, literal)
    for rule in program.rules:
        _constants(w, rule, literal)
    functions: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    governors: dict[tuple[str, tuple[str, ...]], str] = {}
    dispatch: list[tuple[tuple[str, str], str]] = []
    for key, (rule_names, cap_names) in program.dispatch:
        if not rule_names:
            continue
        content = (rule_names, cap_names)
        if content not in functions:
            functions[content] = f"_fast_{len(functions) + 1}"
            for name in rule_names:
                if (name, cap_names) not in governors:
                    governors[(name, cap_names)] = f"_fast_govern_{len(governors) + 1}"
                    _governor(
                        w, governors[(name, cap_names)], rules[name], [rules[c] for c in cap_names], program, literal
                    )
            _decision(
                w,
                functions[content],
                [rules[n] for n in rule_names],
                [rules[c] for c in cap_names],
                guidelines,
                governors,
                literal,
            )
        dispatch.append((key, functions[content]))
    w.line()
    for code, name in literal.constants.items():
        w.line(f"{name} = {code}")
    return w.lines, dispatch


def _fact(w: SourceWriter, fact: ir.FactInfo, literal: object) -> None:
    w.line()
    w.line()
    w.line(f"def _ff_{fact.name}(v, m):")
    with w.indent():
        w.line(f"value = m[{fact.name!r}] = {_Expressions(literal).expr(fact.expr)}")
        w.line("return value")


def _constants(w: SourceWriter, rule: ir.RuleInfo, literal: object) -> None:
    assert callable(literal)
    source = str(rule.origin)
    governs = TraceEntry(rule.name, rule.kind, "governs", "applies to this request", source)
    excepted = tuple(TraceEntry(rule.name, rule.kind, "not_applicable", r, source) for r in rule.reasons)
    w.line(f"_governs_{rule.name} = {literal(governs)}")
    w.line(f"_excepted_{rule.name} = {literal(excepted)}")
    w.line(f"_citation_{rule.name} = {literal(rule.citation)}")
    if rule.kind == "cap":
        w.line(f"_loose_{rule.name} = {{}}")


def _clauses(w: SourceWriter, rule: ir.RuleInfo, result: str, literal: object) -> None:
    """Set `result` to -1 when the rule applies, else to the index of the clause that stops it."""
    exprs = _Expressions(literal)
    clauses = [(c, False) for c in rule.when] + [(c, True) for c in rule.unless]
    if not clauses:
        w.line(f"{result} = -1")
        return
    for index, (clause, is_unless) in enumerate(clauses):
        code = exprs.expr(clause)
        test = f"{code} is True" if is_unless else f"{code} is not True"
        w.line(f"{'if' if index == 0 else 'elif'} {test}:")
        with w.indent():
            w.line(f"{result} = {index}")
    w.line("else:")
    with w.indent():
        w.line(f"{result} = -1")


def _in_force(rules: list[ir.RuleInfo], guidelines: dict[str, ir.GuidelineInfo], literal: object) -> list[str]:
    assert callable(literal)
    checks = []
    for name in sorted({r.guideline for r in rules}):
        g = guidelines[name]
        if g.in_force_from is not None:
            checks.append(f"d < {_Expressions(literal).constant(g.in_force_from)}")
        if g.in_force_to is not None:
            checks.append(f"d > {_Expressions(literal).constant(g.in_force_to)}")
    return checks


def _decision(
    w: SourceWriter,
    function: str,
    rules: list[ir.RuleInfo],
    caps: list[ir.RuleInfo],
    guidelines: dict[str, ir.GuidelineInfo],
    governors: dict[tuple[str, tuple[str, ...]], str],
    literal: object,
) -> None:
    cap_names = tuple(c.name for c in caps)
    w.line()
    w.line()
    w.line(f"# rules {', '.join(r.name for r in rules)}; caps {', '.join(cap_names) or 'none'}")
    w.line(f"def {function}(v, case_id):")
    with w.indent():
        checks = _in_force(rules + caps, guidelines, literal)
        if checks:
            w.line("d = v['request_date']")
            w.line(f"if {' or '.join(checks)}:")
            with w.indent():
                w.line("return None")
        w.line("m = {}")
        w.line("f = None")
        w.line("try:")
        with w.indent():
            for index, rule in enumerate(rules):
                w.line(f"# {rule.name} ({comment(str(rule.origin))})")
                _applies(w, rule, f"a{index}", f"r{index}", literal)
                w.line(f"m[{'@' + rule.name!r}] = a{index}")
            count = " + ".join(f"(a{i} is True)" for i in range(len(rules)))
            w.line(f"governing = {count}")
            w.line("if governing > 1:")
            with w.indent():
                w.line("return None  # the engine reports the conflict")
            w.line("trace = [")
            with w.indent():
                for index, rule in enumerate(rules):
                    w.line(
                        f"_governs_{rule.name} if a{index} is True else _excepted_{rule.name}[r{index}] "
                        f"if a{index} is False else _unknown_entry({rule.name!r}, a{index}),"
                    )
            w.line("]")
            for index, rule in enumerate(rules):
                w.line(f"if a{index} is True:")
                with w.indent():
                    w.line(f"return {governors[(rule.name, cap_names)]}(v, m, f, case_id, trace)")
            unit = rules[0].action.unit if rules else caps[0].action.unit
            flags = ", ".join(f"a{i}" for i in range(len(rules)))
            w.line(f"unknown = [a for a in ({flags},) if a.__class__ is _U]")
            w.line("if unknown:")
            with w.indent():
                w.line(
                    f"return _ENGINE.needs_information(case_id, v['quantity'], _join(*unknown).facts, trace, {unit!r})"
                )
            w.line(f"return _ENGINE.not_addressed(case_id, v, trace, (), {unit!r})")
        w.line("except _GIVE_UP:")
        with w.indent():
            w.line("return None")


def _governor(
    w: SourceWriter, function: str, rule: ir.RuleInfo, caps: list[ir.RuleInfo], program: ir.Program, literal: object
) -> None:
    exprs = _Expressions(literal)
    action = rule.action
    w.line()
    w.line()
    w.line(f"# {rule.name} governs; caps {', '.join(c.name for c in caps) or 'none'}")
    w.line(f"def {function}(v, m, f, case_id, trace):")
    with w.indent():
        w.line("q = v['quantity']")
        w.line("try:")
        with w.indent():
            if action.kind == "limit":
                assert action.amount is not None and action.counting is not None
                w.line(f"limit = {_integer(exprs, action.amount)}")
                w.line(f"period = {exprs.expr(action.period) if action.period is not None else 'None'}")
                w.line(f"prior = _int({exprs.expr(action.counting)})")
                w.line("allowed = limit - prior if limit > prior else 0")
            elif action.kind == "trial":
                assert action.initial is not None and action.total is not None and action.counting is not None
                assert action.extension is not None
                # The engine evaluates every operand first; so does this.
                w.line(f"initial = {_integer(exprs, action.initial)}")
                w.line(f"initial_period = {exprs.expr(action.initial_period) if action.initial_period else 'None'}")
                w.line(f"total = {exprs.expr(action.total)}")
                w.line(f"total_period = {exprs.expr(action.total_period) if action.total_period else 'None'}")
                extension = action.extension
                if isinstance(extension, ir.Input):
                    # Not needed during the trial: absent, it stays unknown until then.
                    w.line(f"extension = v.get({extension.name!r}, _UNKNOWN[{extension.name!r}])")
                else:
                    w.line(f"extension = {exprs.expr(extension)}")
                w.line(f"prior = _int({exprs.expr(action.counting)})")
                w.line("if prior < initial:")
                with w.indent():
                    w.line("limit, allowed, period = initial, initial - prior, initial_period")
                w.line("elif extension is True:")
                with w.indent():
                    w.line("limit, period = _int(total), total_period")
                    w.line("allowed = limit - prior if limit > prior else 0")
                w.line("elif extension is False:")
                with w.indent():
                    w.line("limit, allowed, period = initial, 0, initial_period")
                w.line("else:")
                with w.indent():
                    w.line("raise _GiveUp")
            elif action.kind == "certify":
                w.line("limit, prior, allowed, period = q, 0, q, None")
            else:
                w.line("limit, prior, allowed, period = 0, 0, 0, None")

        w.line("except KeyError:")
        with w.indent():
            # An input the limit reads is absent: count three-valued, as the engine does.
            _three_valued_facts(w)
            w.line(f"allowance = _ENGINE.allowance(_ENGINE.rules[{rule.name!r}], f, q)")
            w.line("if allowance.__class__ is _U:")
            with w.indent():
                w.line(f"trace[trace.index(_governs_{rule.name})] = "
                       f"_rt.limit_unknown_entry(_ENGINE.rules[{rule.name!r}], allowance)")
                w.line(f"return _ENGINE.needs_information(case_id, q, allowance.facts, trace, {action.unit!r})")
            w.line(
                "limit, prior, allowed, period = allowance.limit, allowance.prior, allowance.allowed, allowance.period"
            )
        w.line("approved = q if q < allowed else allowed")
        if caps:
            w.line("applied = []")
            w.line("if approved > 0:")
            with w.indent():
                for cap in caps:
                    assert cap.action.amount is not None and cap.action.counting is not None
                    w.line(f"# cap {cap.name} ({comment(str(cap.origin))})")
                    # A cap whose facts are unknown is fine as long as it cannot hold the request down.
                    _applies(w, cap, "cv", "cr", literal)
                    w.line("if cv is False:")
                    with w.indent():
                        w.line(f"trace.append(_excepted_{cap.name}[cr])")
                    w.line("else:")
                    with w.indent():
                        w.line(f"climit = {_integer(exprs, cap.action.amount)}")
                        w.line(f"cprior = {_integer(exprs, cap.action.counting)}")
                        w.line("callowed = climit - cprior if climit > cprior else 0")
                        w.line("if callowed >= q or callowed > approved or (callowed == approved and cv is not True):")
                        with w.indent():
                            unit = repr(cap.action.unit)[1:-1].replace("{", "{{").replace("}", "}}")
                            # Trace entries are immutable: one per number, made on first use.
                            w.line(f"entry = _loose_{cap.name}.get((callowed, cv))")
                            w.line("if entry is None:")
                            with w.indent():
                                w.line(
                                    f"entry = _loose_{cap.name}[(callowed, cv)] = _TraceEntry({cap.name!r}, 'cap', "
                                    f"'applies' if cv is True else 'unknown', "
                                    f"f'allows {{callowed}} more {unit}; does not bind', {str(cap.origin)!r})"
                                )
                            w.line("trace.append(entry)")
                        w.line("elif cv is not True:")
                        with w.indent():
                            # A cap that may hold the request down: the engine asks.
                            w.line("raise _GiveUp")
                        w.line("else:")
                        with w.indent():
                            period = exprs.expr(cap.action.period) if cap.action.period is not None else "None"
                            w.line(
                                f"applied.append((_ENGINE.rules[{cap.name!r}], "
                                f"_rt.Allowance(climit, cprior, callowed, {period})))"
                            )
                            w.line("approved = callowed")
        if caps:
            w.line("if applied:")
            with w.indent():
                # Caps that bind are cited with their own rationale: the engine's conclusion does that.
                _three_valued_facts(w)
                w.line(
                    f"return _ENGINE.conclude(case_id, f, q, _ENGINE.rules[{rule.name!r}], "
                    "_rt.Allowance(limit, prior, allowed, period), approved, applied, trace)"
                )
        w.line("outcome = _CERTIFY if approved == q else _NON_CERTIFY if approved == 0 else _MODIFY")
        numbers = {
            "requested": "q",
            "approved": "approved",
            "limit": "limit",
            "prior": "prior",
            "allowed": "allowed",
            "period": "period",
            "unit": repr(action.unit),
        }
        static: dict[str, str] = {"unit": action.unit.replace("_", " ")}
        if action.kind == "limit" and isinstance(action.period, ir.Const):
            static["period"] = show_constant(action.period.value)
        w.line(f"texts = [{_rationale(rule, numbers, literal, static)}]")
        for fact in rule.explained:
            info = next(f for f in program.facts if f.name == fact)
            w.line(f"value = {exprs.expr(ir.Fact(fact, info.type))}")
            for flag, template in ((True, info.explain_true), (False, info.explain_false)):
                if template is not None:
                    w.line(f"if value is {flag}:")
                    with w.indent():
                        w.line(f"text = {_Expressions(literal).template(template, as_sentence=False)}")
                        w.line("if text:")
                        with w.indent():
                            w.line("texts.append(_sentence(text))")
        w.line(
            f"return _Decision(case_id, outcome, q, approved, (_citation_{rule.name},), ' '.join(texts), (), "
            f"tuple(trace), ({rule.name!r},), {action.unit!r})"
        )


def _applies(w: SourceWriter, rule: ir.RuleInfo, flag: str, reason: str, literal: object) -> None:
    """Set `flag` to whether the rule applies (True, False or Unknown) and `reason` to the clause that stops it.

    Plain Python first; when an input it reads is absent, the rule's three-valued
    check may still settle it (a false condition needs nothing more).
    """
    w.line("try:")
    with w.indent():
        _clauses(w, rule, reason, literal)
        w.line(f"{flag} = {reason} < 0")
    w.line("except KeyError:")
    with w.indent():
        _three_valued_facts(w)
        w.line(f"{flag}, {reason} = _check_{rule.name}(f)")
        w.line(f"f[{'@' + rule.name!r}] = {flag}")


def _three_valued_facts(w: SourceWriter) -> None:
    """Make the engine's Facts for this case (once), for a three-valued check or count."""
    w.line("if f is None:")
    with w.indent():
        w.line("f = _ENGINE.facts_from(v, m)")


def _integer(exprs: _Expressions, e: ir.Expr) -> str:
    """An integer operand: constants as they are, anything else checked to be a known integer."""
    if isinstance(e, ir.Const) and e.value.__class__ is int:
        return str(e.value)
    return f"_int({exprs.expr(e)})"


def _rationale(rule: ir.RuleInfo, numbers: dict[str, str], literal: object, static: dict[str, str]) -> str:
    if rule.rationale is None:
        return (
            f"_sentence(_rt.default_rationale(_citation_{rule.name}, {{"
            + ", ".join(f"{k!r}: {v}" for k, v in numbers.items())
            + "}))"
        )
    exprs = _Expressions(literal, numbers)
    exprs.static = static
    return exprs.template(rule.rationale)


def show_constant(value: object) -> str:
    """The text runtime.show gives a constant, computed while compiling."""
    return show(value)
