"""Check rules: scope, citation, action, conditions, exceptions, and the priority order of rules."""

from __future__ import annotations

from mtus_dsl import types as t
from mtus_dsl.compiler import ir
from mtus_dsl.compiler import nodes as n
from mtus_dsl.compiler.check_declarations import (
    _ERROR_OPERAND,
    RATIONALE_LOCALS,
    _consulted,
    _toposort,
    _unit,
)
from mtus_dsl.compiler.check_expressions import ExpressionChecker, constant
from mtus_dsl.decision import Citation
from mtus_dsl.diagnostics import Span, did_you_mean

#: The input that dates the prior units (the prelude declares it): a limit with a period counts those within it.
DATED_UNITS = "prior_visit_dates"
#: The runtime operation (runtime.units_within) a limit with a period counts its prior units with.
WITHIN_PERIOD = "units_within"


class RuleChecker(ExpressionChecker):
    """Type each rule and put the rules in priority order (an exception before what it overrides)."""

    # --- rules ---------------------------------------------------------------------
    def _rules(self) -> list[ir.RuleInfo]:
        out: list[ir.RuleInfo] = []
        extra_unless: dict[str, list[tuple[ir.Expr, str]]] = {}

        def except_(target: str, winner: str, reason: str) -> None:
            found = extra_unless.setdefault(target, [])
            if all(expr != ir.Applies(winner) for expr, _ in found):
                found.append((ir.Applies(winner), reason))

        for name, (rule, _section) in self.d.rules.items():
            for target, span in rule.overrides:
                if target not in self.d.rules:
                    self.error(
                        "E105",
                        f"'{name}' overrides an unknown rule '{target}'{did_you_mean(target, self.d.rules)}",
                        span,
                    )
                elif target == name:
                    self.error("E106", f"rule '{name}' overrides itself", span)
                else:
                    except_(target, name, f"excepted: '{name}' applies, and it overrides this rule")
        for winner, loser, reason in self._precedence():
            except_(loser, winner, reason)
        for name, (rule, section) in self.d.rules.items():
            info = self._rule(rule, section, extra_unless.get(name, []))
            if info is not None:
                out.append(info)
        for section in self.d.sections.values():
            if not section.rules:  # its clauses are checked with each rule; without rules, on their own
                for clause in section.when:
                    self._condition(clause, "when")
                for clause in section.unless:
                    self._condition(clause, "unless")
        return out

    # --- precedence between sections, guidelines, and rules in 'otherwise' order ----------
    def _precedence(self) -> list[tuple[str, str, str]]:
        """(winner, loser, reason) for each pair of rules that a section, guideline or 'otherwise' orders.

        Only rules (not caps) that address a common request are paired: outside its scope a rule
        never applies, so an exception there would say nothing.
        """
        pairs: list[tuple[str, str, str]] = []
        scopes = {name: self._raw_scope(rule, section) for name, (rule, section) in self.d.rules.items()}

        def rules_of(sections: list[n.Section]) -> list[str]:
            return [r.name for s in sections for r in s.rules if r.kind == "rule" and r.name in scopes]

        def order(winners: list[str], losers: list[str], reason: str) -> None:
            for winner in winners:
                for loser in losers:
                    if winner != loser and _overlap(scopes[winner], scopes[loser]):
                        pairs.append((winner, loser, reason.format(winner=winner)))

        def sections_in(guideline: str) -> list[n.Section]:
            return [s for s in self.d.sections.values() if s.guideline == guideline]

        declared: set[tuple[str, str]] = set()  # (winner, loser): a pair the other way round is a circle

        def both_ways(kind: str, winner: str, loser: str, span: Span) -> bool:
            if (loser, winner) in declared:
                self.error("E106", f"{kind}s '{loser}' and '{winner}' override each other", span,
                           "say which one takes precedence, on one of them only")
                return True
            declared.add((winner, loser))
            return False

        for guideline in self.d.guidelines.values():
            for target, span in guideline.overrides:
                if target == guideline.name:
                    self.error("E106", f"guideline '{target}' overrides itself", span)
                elif both_ways("guideline", guideline.name, target, span):
                    continue
                elif target not in self.d.guidelines:
                    self.error(
                        "E105",
                        f"guideline '{guideline.name}' overrides an unknown guideline "
                        f"'{target}'{did_you_mean(target, self.d.guidelines)}",
                        span,
                        "guidelines: " + ", ".join(self.d.guidelines),
                    )
                else:
                    order(rules_of(sections_in(guideline.name)), rules_of(sections_in(target)),
                          f"excepted: '{{winner}}' applies, and its guideline '{guideline.name}' overrides "
                          f"'{target}'")
        for section in self.d.sections.values():
            for target, span in section.overrides:
                if target == section.name:
                    self.error("E106", f"section '{target}' overrides itself", span)
                    continue
                if target in self.d.sections and target in self.d.guidelines:
                    self.error("E102", f"'{target}' names both a section and a guideline", span,
                               "rename one of them, so that 'overrides' says which it means")
                    continue
                if both_ways("section", section.name, target, span):
                    continue
                if target in self.d.sections:
                    losers, what = [self.d.sections[target]], "section"
                elif target in self.d.guidelines:
                    # Its own guideline: the other sections of it (a section does not override itself).
                    losers, what = [s for s in sections_in(target) if s is not section], "guideline"
                else:
                    known = list(self.d.sections) + list(self.d.guidelines)
                    self.error(
                        "E105",
                        f"section '{section.name}' overrides an unknown section or guideline "
                        f"'{target}'{did_you_mean(target, known)}",
                        span,
                    )
                    continue
                order(rules_of([section]), rules_of(losers),
                      f"excepted: '{{winner}}' applies, and its section '{section.name}' overrides {what} '{target}'")
            above: list[str] = []  # the rules of the current 'otherwise' chain, first to last
            for rule in section.rules:
                if not rule.otherwise:
                    above = [rule.name] if rule.kind == "rule" else []
                    continue
                if not above:  # (the grammar allows 'otherwise' before a rule only, never a cap)
                    self.error(
                        "E119",
                        f"'otherwise {rule.name}' follows no rule",
                        Span(rule.span.path, rule.span.line, rule.span.column, rule.span.line,
                             rule.span.column + len(rule.name)),
                        "write 'otherwise' before a rule that comes right after another rule of the section: "
                        "it applies only when none of the rules above it in that chain applies",
                    )
                    continue
                if rule.name in scopes:
                    order(above, [rule.name], "excepted: '{winner}' applies, and this rule is written after it "
                                              "with 'otherwise'")
                above.append(rule.name)
        return pairs

    def _raw_scope(self, rule: n.Rule, section: n.Section) -> tuple[set[str], set[str] | None]:
        """The services and body regions a rule is written for (None: every region), before checking them."""
        services = {s for s, _ in rule.services or section.services}
        regions = {r for r, _ in rule.regions or section.regions} or None
        return services, regions

    def _scope_names(self, names: tuple[tuple[str, Span], ...], enum: str) -> tuple[str, ...]:
        members = self.d.enums.get(enum, ())
        out = []
        for member, span in names:
            if member not in members:
                self.error(
                    "E102",
                    f"'{member}' is not a {enum}{did_you_mean(member, members)}",
                    span,
                    f"{enum} values: {', '.join(members)}",
                )
            else:
                out.append(member)
        return tuple(out)

    def _rule(self, rule: n.Rule, section: n.Section, extra: list[tuple[ir.Expr, str]]) -> ir.RuleInfo | None:
        guideline = self.d.guidelines.get(section.guideline or "")
        if guideline is None and section.guideline is not None and section.guideline_span is not None:
            self.error(
                "E102",
                f"unknown guideline '{section.guideline}'{did_you_mean(section.guideline, self.d.guidelines)}",
                section.guideline_span,
                f"guidelines declared: {', '.join(sorted(self.d.guidelines)) or 'none'}",
            )
            return None
        if guideline is None:
            self.error(
                "E109",
                f"section '{section.name}' belongs to no guideline",
                section.span,
                'declare \'guideline NAME "Title" edition "...":\' above it in the same file, '
                "or name it: section NAME \"Title\" in GUIDELINE",
            )
            return None
        services = self._scope_names(rule.services or section.services, "service")
        regions = self._scope_names(rule.regions or section.regions, "body_region") or self.d.enums.get(
            "body_region", ()
        )
        if not (rule.services or section.services):
            self.error(
                "E114",
                f"section '{section.name}' does not say which services it covers",
                section.span,
                "add a line: services physical_therapy, occupational_therapy",
            )
        if rule.subsection is not None and not rule.subsection.strip():
            self.error(
                "E116",
                f"rule '{rule.name}' cites an empty subsection",
                rule.span,
                'write the subsection cited (subsection "(c)(1)"), or delete the line',
            )
        pages = rule.pages or section.pages
        if rule.subsection is None and pages is None:
            self.error(
                "E108",
                f"rule '{rule.name}' can decide requests but cites no page or subsection",
                rule.span,
                "add 'page N' (or 'subsection \"(c)(1)\"') to the rule or 'pages N-M' to its section",
            )
        citation = Citation(
            guideline.title,
            guideline.edition,
            section.title,
            str(pages) if pages else None,
            rule.subsection,
            guideline.regulation,
        )
        self._guarded = self._guarded_names(section.when + rule.when)
        action = self._action(rule)
        self._guarded = set()
        if rule.kind == "cap" and not isinstance(action, ir.Limit):
            self.error(
                "E111",
                f"cap '{rule.name}' must be a limit (max_visits N ...)",
                rule.action.span,
                "caps hold together with whatever rule governs; only a limit can do that",
            )
        # The section's clauses come first: they hold for every rule of it, like an outer condition.
        when_clauses = section.when + rule.when
        unless_clauses = section.unless + rule.unless
        when = [self._condition(clause, "when") for clause in when_clauses]
        unless = [self._condition(clause, "unless") for clause in unless_clauses]
        reasons = [f"its condition '{self._text(clause.span)}' does not hold" for clause in when_clauses]
        reasons += [f"excepted: '{self._text(clause.span)}' holds" for clause in unless_clauses]
        clauses = [self._text(clause.span) for clause in (*when_clauses, *unless_clauses)]
        for expr, reason in extra:
            unless.append(expr)
            reasons.append(reason)
            clauses.append(reason)
        rationale = self.template(rule.rationale, RATIONALE_LOCALS) if rule.rationale else None
        explained = []
        for expr in when + unless:
            for e in ir.walk(expr):
                if isinstance(e, ir.Fact) and e.name not in explained:
                    decl = self.d.facts[e.name]
                    if decl.explain_true or decl.explain_false:
                        explained.append(e.name)
        return ir.RuleInfo(
            name=rule.name,
            kind=rule.kind,
            guideline=guideline.name,
            section=section.name,
            citation=citation,
            action=action,
            when=tuple(when),
            unless=tuple(unless),
            reasons=tuple(reasons),
            rationale=rationale,
            explained=tuple(explained),
            services=services,
            regions=tuple(regions),
            origin=ir.Origin(rule.span.path, rule.span.line, rule.span.column, len(rule.name)),
            clauses=tuple(clauses),
        )

    def _operand(self, node: n.Expr | None, expected: t.Type, what: str) -> ir.Expr | None:
        if node is None:
            return None
        expr = self.expr(node, {}, expected)
        self._expect(expected, expr.type.required(), node, what)
        if expr.type.optional and expected.kind == "integer":
            # A number of units cannot be none: each fact or input that may be none must be
            # guarded by a `when NAME exists` of the rule (a period of none just means no period).
            leaves = {e.name for e in ir.walk(expr) if isinstance(e, (ir.Fact, ir.Input)) and e.type.optional}
            unguarded = sorted(leaves - self._guarded)
            if unguarded:
                self.error(
                    "E104",
                    f"{what}, but this may be none ({', '.join(unguarded)} may be none)",
                    node.span,
                    f"add 'when {unguarded[0]} exists' to the rule, so it applies only when there is a number",
                )
            elif not leaves:
                self.error(
                    "E104",
                    f"{what}, but this may be none",
                    node.span,
                    "name it as a fact ('fact course: integer or none = ...') and add 'when course exists' "
                    "to the rule",
                )
        return expr

    def _condition(self, clause: n.Expr, keyword: str) -> ir.Expr:
        """Type a `when` or `unless` clause: a condition that is true or false (or unknown), never none."""
        expr = self.expr(clause, {})
        self._expect(t.BOOLEAN, expr.type, clause, f"'{keyword}' needs a condition")
        # A none would read as neither true nor false.
        if expr.type.kind == "boolean" and expr.type.optional:
            self.error(
                "E104",
                "a condition must be true or false, but this may be none",
                clause.span,
                f"compare it: '{self._text(clause.span)} = true' is false when it is none",
            )
        return expr

    def _guarded_names(self, clauses: tuple[n.Expr, ...]) -> set[str]:
        """The facts and inputs a rule's `when` clauses (its section's too) say exist (`when x exists and ...`)."""
        found: set[str] = set()
        pending: list[n.Expr] = list(clauses)
        while pending:
            clause = pending.pop()
            if isinstance(clause, n.BoolOp) and clause.op == "and":
                pending += [clause.left, clause.right]
            elif isinstance(clause, n.Exists) and isinstance(clause.operand, n.Name):
                found.add(clause.operand.id)
        return found

    def _action(self, rule: n.Rule) -> ir.Action:
        action = rule.action
        counting_default = ir.Input("prior_visits", self.input_types.get("prior_visits", t.INTEGER))
        unit = _unit(action, self.d.rules[rule.name][1].unit)
        if (
            isinstance(action, (n.Limit, n.Trial))
            and action.counting is None
            and "prior_visits" not in self.input_types
        ):
            self.error(
                "E102",
                "a limit counts 'prior_visits' unless it says 'counting ...', and no such input is declared",
                action.span,
            )

        def counting(action: n.Limit | n.Trial) -> ir.Expr:
            given = self._operand(action.counting, t.INTEGER, "'counting' takes a number of prior units")
            return given or counting_default

        for operand in (action.amount,) if isinstance(action, n.Limit) else (
                (action.initial, action.total) if isinstance(action, n.Trial) else ()):
            self._lint_amount(operand)
        if isinstance(action, n.Limit):
            period = self._operand(action.period, t.DURATION, "'over' takes a duration (4 weeks)")
            counted = counting(action)
            dates = self.input_types.get(DATED_UNITS)
            if period is not None and action.counting is None and dates == t.Type("list", of=t.DATE):
                # A period limits: when the case dates the prior units, only those within it count.
                counted = ir.Call(
                    WITHIN_PERIOD,
                    (ir.Input(DATED_UNITS, dates), ir.Input("request_date", t.DATE), period, counted),
                    t.INTEGER,
                )
            return ir.Limit(
                unit,
                amount=self._operand(action.amount, t.INTEGER, "a limit is a number of units") or _ERROR_OPERAND,
                period=period,
                counting=counted,
            )
        if isinstance(action, n.Trial):
            initial, total = constant(action.initial), constant(action.total)
            if initial is not None and total is not None and 0 < total < initial:
                self.error(
                    "E117",
                    f"a trial of {initial} is more than its 'up to' total of {total}, which counts the trial's "
                    "units too",
                    action.total.span,
                    f"the total is all the units, the trial's included: write 'up to {initial + total}' if {total} "
                    "more are meant, or a trial of at most the total",
                )
            return ir.Trial(
                unit,
                initial=self._operand(action.initial, t.INTEGER, "a trial is a number of units") or _ERROR_OPERAND,
                initial_period=self._operand(action.initial_period, t.DURATION, "'over' takes a duration"),
                total=self._operand(action.total, t.INTEGER, "'up to' takes a number of units") or _ERROR_OPERAND,
                total_period=self._operand(action.total_period, t.DURATION, "'over' takes a duration"),
                extension=self._operand(action.extension, t.BOOLEAN, "'with' takes a condition") or _ERROR_OPERAND,
                counting=counting(action),
            )
        return ir.Certify(unit) if isinstance(action, n.Certify) else ir.NonCertify(unit)

    def _lint_amount(self, node: n.Expr) -> None:
        """A number of units written as a constant must be above zero; `1-2` is a range typed as a subtraction."""
        if (
            isinstance(node, n.Arith)
            and node.op == "-"
            and isinstance(node.left, n.IntLit)
            and isinstance(node.right, n.IntLit)
            and node.left.value < node.right.value
        ):
            text = self._text(node.span)
            self.error(
                "E118",
                f"'{text}' is a subtraction ({node.left.value - node.right.value}), not a range of units",
                node.span,
                f"a limit is one number: write the upper bound and quote the range, "
                f"'{node.right.value}  # the guideline says {text}'",
            )
            return
        value = constant(node)
        if value is not None and value <= 0:
            self.error(
                "E117",
                f"a number of units must be above zero, and '{self._text(node.span)}' is {value}",
                node.span,
                "to certify nothing, write 'non_certify'; otherwise correct the number",
            )

    def _order_rules(self, rules: list[ir.RuleInfo]) -> tuple[ir.RuleInfo, ...]:
        """Put rules in priority order: each after the rules its exceptions consult; a circle is E106."""
        by_name = {r.name: r for r in rules}
        deps = {r.name: sorted(_consulted(r)) for r in rules}
        order = _toposort(deps)
        if order is None:
            cycle = ir.find_cycle(deps) or []
            if cycle:
                rule = by_name[cycle[0]]
                self.error(
                    "E106",
                    "rules except each other in a circle: " + " -> ".join(cycle + [cycle[0]]),
                    Span(rule.origin.path, rule.origin.line, rule.origin.column, rule.origin.line,
                         rule.origin.column + rule.origin.width),
                    "an exception must not, through others, except itself",
                )
            return tuple(rules)
        return tuple(by_name[name] for name in order)



def _overlap(a: tuple[set[str], set[str] | None], b: tuple[set[str], set[str] | None]) -> bool:
    """Whether two rules' scopes share a (service, body region): only then can both address a request."""
    if not a[0] & b[0]:
        return False
    return a[1] is None or b[1] is None or bool(a[1] & b[1])
