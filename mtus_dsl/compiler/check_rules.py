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
from mtus_dsl.compiler.check_expressions import ExpressionChecker
from mtus_dsl.decision import Citation
from mtus_dsl.diagnostics import Span, did_you_mean


class RuleChecker(ExpressionChecker):
    """Type each rule and put the rules in priority order (an exception before what it overrides)."""

    # --- rules ---------------------------------------------------------------------
    def _rules(self) -> list[ir.RuleInfo]:
        out: list[ir.RuleInfo] = []
        extra_unless: dict[str, list[tuple[ir.Expr, str]]] = {}
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
                    extra_unless.setdefault(target, []).append(
                        (ir.Applies(name), f"excepted: '{name}' applies, and it overrides this rule")
                    )
        for name, (rule, section) in self.d.rules.items():
            info = self._rule(rule, section, extra_unless.get(name, []))
            if info is not None:
                out.append(info)
        return out

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
        self._guarded = self._guarded_names(rule)
        action = self._action(rule)
        self._guarded = set()
        if rule.kind == "cap" and not isinstance(action, ir.Limit):
            self.error(
                "E111",
                f"cap '{rule.name}' must be a limit (max_visits N ...)",
                rule.action.span,
                "caps hold together with whatever rule governs; only a limit can do that",
            )
        when = [self._condition(clause, "when") for clause in rule.when]
        unless = [self._condition(clause, "unless") for clause in rule.unless]
        reasons = [f"its condition '{self._text(clause.span)}' does not hold" for clause in rule.when]
        reasons += [f"excepted: '{self._text(clause.span)}' holds" for clause in rule.unless]
        clauses = [self._text(clause.span) for clause in (*rule.when, *rule.unless)]
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

    def _guarded_names(self, rule: n.Rule) -> set[str]:
        """The facts and inputs a rule's `when` clauses say exist (`when x exists and ...`)."""
        found: set[str] = set()
        pending: list[n.Expr] = list(rule.when)
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
            return ir.Limit(
                unit,
                amount=self._operand(action.amount, t.INTEGER, "a limit is a number of units") or _ERROR_OPERAND,
                period=self._operand(action.period, t.DURATION, "'over' takes a duration (4 weeks)"),
                counting=counting(action),
            )
        if isinstance(action, n.Trial):
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
        value = _constant(node)
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



def _constant(node: n.Expr) -> int | None:
    """The value of an integer expression of literals only (`10`, `2 * 6 - 12`), or None."""
    if isinstance(node, n.IntLit):
        return node.value
    if isinstance(node, n.Arith):
        left, right = _constant(node.left), _constant(node.right)
        if left is None or right is None:
            return None
        return left + right if node.op == "+" else left - right if node.op == "-" else left * right
    return None
