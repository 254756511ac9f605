"""`mtus explain`: one decision as a tree: each rule consulted, the values it read, the caps, the arithmetic.

Nothing here decides: the engine settles the case (Engine.settle, the procedure
`decide` runs) and text.Explanation renders its trace; this module lays out
what they computed. The tree is JSON-ready data (`explain`), rendered for a
terminal by `render` (plain text) or `render_rich` (with rich, when installed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mtus_dsl.case import Case
from mtus_dsl.decision import Outcome
from mtus_dsl.engine import Allowance, Engine, Facts, Rule
from mtus_dsl.text import Explanation, printable_lines, show, show_value

#: How a trace status reads at the head of its line.
_MARKS = {"governs": "✔", "binds": "✔", "applies": "·", "not_applicable": "✘", "not_in_force": "✘",
          "unknown": "?"}


def explain(engine: Engine, data: Case | Mapping[str, Any], on_record: bool = False) -> dict[str, Any]:
    """Decide a case and return its decision as a tree (JSON-ready); raise CaseError or RuleError as decide does.

    The tree shows what `decide` computed for this decision (`on_record` as for decide): its trace, and the
    values it settled on, including those it read on the record. A case whose unknown inputs cannot change
    the answer shows the arithmetic of each way the answer is reached.
    """
    case = engine.case(data)
    decision = engine.decide(case, on_record)
    # The decision's own settlement, read before it renders (Decision.deferred keeps it until then).
    made = getattr(decision, "_explain", None)
    values = case.values
    tree: dict[str, Any] = {
        "id": case.id,
        "request": {name: show_value(values[name]) for name in ("service", "body_region", "request_date")}
        | {"quantity": values["quantity"]},
        "outcome": decision.outcome.value,
        "requested": decision.requested,
        "approved": decision.approved,
        "unit": decision.unit,
        "rules": [],
        "caps": [],
        "arithmetic": None,
        "missing": list(decision.missing),
        "assumed": [a.to_dict() for a in decision.assumed],
        "citations": [str(c) for c in decision.citations],
        "rationale": decision.rationale,
        "provenance": None if decision.provenance is None else decision.provenance.to_dict(),
    }
    if not isinstance(made, Explanation) or made.bucket is None or made.facts is None:
        return tree
    facts = made.facts
    for entry in decision.trace:  # the same trace as decide's, entry for entry
        rule = engine.rules[entry.rule]
        node = {
            "rule": entry.rule,
            "kind": entry.kind,
            "status": entry.status,
            "detail": entry.detail,
            "source": entry.source,
            "citation": str(rule.citation),
            # A rule out of force was never evaluated: what it would read says nothing about it.
            "read": [] if entry.status == "not_in_force" else _read(rule, facts, engine),
            # Sub-conditions, each with its value, the facts it read and the diagnosis that matched:
            # the engine's clause-level trace supplies them (TraceEntry.clauses) where it has them.
            "clauses": [_clause(c) for c in getattr(entry, "clauses", ())],
        }
        tree["caps" if entry.kind == "cap" else "rules"].append(node)
    quantity = values["quantity"]
    settled = made.settled
    if settled.rule is not None and settled.allowance is not None:
        # Needs information with a governing limit: a cap that may bind depends on what the case does not give.
        unknown = None
        if decision.outcome is Outcome.NEEDS_INFORMATION:
            unknown = ([node["rule"] for node in tree["caps"] if node["status"] == "unknown"], decision.missing)
        tree["arithmetic"] = _arithmetic(settled.rule, settled.allowance, settled.caps, quantity, decision.approved,
                                         unknown)
    elif made.leaves:
        # Decided whatever the unknown inputs are: each completion's arithmetic (each reaches the same answer).
        ways = []
        for leaf in made.leaves:
            governing, allowance = leaf.settled.rule, leaf.settled.allowance
            if governing is not None and allowance is not None:
                way = _arithmetic(governing, allowance, leaf.settled.caps, quantity, leaf.settled.approved)
                way["when"] = {name: show_value(value) for name, value in leaf.chosen.items()}
                ways.append(way)
        if ways:
            tree["arithmetic"] = {"requested": quantity, "limits": [], "approved": decision.approved,
                                  "text": f"approved = {decision.approved} whatever "
                                          f"{', '.join(sorted({n for w in ways for n in w['when']}))} is",
                                  "ways": ways}
    return tree


def _read(rule: Rule, facts: Facts, engine: Engine) -> list[dict[str, str]]:
    """The inputs and facts a rule reads, as this case had them (those never needed are left out)."""
    read = []
    for name in rule.reads:
        if dict.__contains__(facts, name):
            read.append({"name": name, "value": show_value(dict.__getitem__(facts, name))})
        elif name in engine.input_names:
            read.append({"name": name, "value": "not given"})
    return read


def _clause(clause: Any) -> dict[str, Any]:
    """A sub-condition of a rule (text, value, reads, matched), as the clause-level trace gives it."""
    return {
        "text": str(getattr(clause, "text", clause)),
        "value": str(getattr(clause, "value", "")),
        "read": [{"name": name, "value": value} for name, value in getattr(clause, "reads", ())],
        "matched": getattr(clause, "matched", None),
    }


def _limit(rule: Rule, allowance: Allowance, binds: bool | None) -> dict[str, Any]:
    over = f" over {show(allowance.period)}" if allowance.period is not None else ""
    return {
        "rule": rule.name,
        "kind": rule.kind,
        "limit": allowance.limit,
        "period": None if allowance.period is None else show(allowance.period),
        "prior": allowance.prior,
        "allowed": allowance.allowed,
        "binds": binds,
        "text": f"{allowance.limit} {rule.unit}{over} - {allowance.prior} already given = {allowance.allowed} more"
        if allowance.limit >= allowance.prior
        else f"{allowance.limit} {rule.unit}{over}, {allowance.prior} already given: none more",
    }


def _arithmetic(rule: Rule, allowance: Allowance, caps: tuple[tuple[Rule, Allowance], ...], requested: int,
                approved: int, unknown: tuple[list[str], tuple[str, ...]] | None = None) -> dict[str, Any]:
    """How the approved number follows: the governing limit, each cap that held the request down, the minimum.

    `unknown`: the caps that may bind and the inputs they wait for, when the minimum is not known (approved None).
    """
    limits = [_limit(rule, allowance, None)]
    limits += [_limit(cap, result, result.allowed == approved and unknown is None) for cap, result in caps]
    terms = [f"{requested} requested", *(f"{item['allowed']} by {item['rule']}" for item in limits)]
    if unknown is not None:
        caps_unknown, missing = unknown
        terms += [f"? by {name}" for name in caps_unknown]
        text = f"approved = min({', '.join(terms)}): not known without {', '.join(missing)}"
    else:
        text = f"approved = min({', '.join(terms)}) = {approved}"
    return {
        "requested": requested,
        "limits": limits,
        "approved": None if unknown is not None else approved,
        "text": text,
    }


def render(tree: Mapping[str, Any]) -> str:
    """Render an explanation tree as plain text, with box-drawing branches."""
    request = tree["request"]
    lines = [
        f"Request{' ' + tree['id'] if tree['id'] else ''}: {show(request['service'])} x {request['quantity']} for "
        f"the {show(request['body_region'])}, requested {request['request_date']}",
        f"Decision: {tree['outcome']}, {tree['approved']} of {tree['requested']} {tree['unit']}"
        + (f" (missing: {', '.join(tree['missing'])})" if tree["missing"] else ""),
    ]
    sections: list[tuple[str, list[Any]]] = []
    if tree["rules"]:
        sections.append(("rules consulted, in priority order", [_rule_branch(n) for n in tree["rules"]]))
    else:
        sections.append(("rules consulted: none is filed for this service and body region", []))
    if tree["caps"]:
        sections.append(("caps", [_rule_branch(n) for n in tree["caps"]]))
    arithmetic = tree["arithmetic"]
    if arithmetic is not None:
        items: list[Any] = _limit_items(arithmetic)
        for way in arithmetic.get("ways", ()):
            when = ", ".join(f"{name} = {value}" for name, value in way["when"].items())
            items.append((f"if {when}", _limit_items(way)))
        if arithmetic.get("ways"):
            items.append((arithmetic["text"], []))
        sections.append(("arithmetic", items))
    if tree.get("assumed"):
        sections.append(("read on the record (the case does not give them)",
                         [(f"{a['field']} = {json.dumps(a['value'])}: {a['reason']}", []) for a in tree["assumed"]]))
    if tree["citations"]:
        sections.append(("citations", [(c, []) for c in tree["citations"]]))
    sections.append(("rationale", [(tree["rationale"], [])]))
    provenance = tree["provenance"]
    if provenance is not None:
        editions = ", ".join(provenance["editions"]) or "none"
        sections.append(("provenance", [(f"mtus-dsl {provenance['version']}", []), (provenance["sources"], []),
                                        (f"editions: {editions}", [])]))
    _branches(lines, sections, "")
    # Each line made printable: text from the case (an id, a procedure) cannot start a line of its own.
    return printable_lines(lines)


def _limit_items(arithmetic: Mapping[str, Any]) -> list[Any]:
    """An arithmetic's lines: each limit, then the minimum (none for a case decided whatever its unknowns are)."""
    if arithmetic.get("ways"):
        return []
    items: list[Any] = [(item["rule"] + ": " + item["text"] + (" (binds)" if item["binds"] else ""), [])
                        for item in arithmetic["limits"]]
    items.append((arithmetic["text"], []))
    return items


def _rule_branch(node: Mapping[str, Any]) -> tuple[str, list[Any]]:
    head = (f"{_MARKS.get(node['status'], '?')} {node['rule']} ({node['kind']}, {node['source']}): "
            f"{node['status']}: {node['detail']}")
    children: list[Any] = []
    if node["read"]:
        children.append(("values it reads: " + "; ".join(f"{r['name']} = {r['value']}" for r in node["read"]), []))
    for clause in node["clauses"]:
        said = f"{clause['text']}: {clause['value']}"
        if clause["read"]:
            said += " (read " + "; ".join(f"{r['name']} = {r['value']}" for r in clause["read"]) + ")"
        if clause["matched"]:
            said += f" (matched {clause['matched']})"
        children.append((said, []))
    return head, children


def _branches(lines: list[str], items: list[Any], prefix: str) -> None:
    for index, (text, children) in enumerate(items):
        last = index == len(items) - 1
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{text}")
        _branches(lines, children, prefix + ("   " if last else "│  "))


def render_rich(tree: Mapping[str, Any]) -> Any:
    """The same tree as a rich Tree, for a terminal (rich must be installed)."""
    from rich.markup import escape
    from rich.tree import Tree

    plain = render(tree).split("\n")
    root = Tree(escape(plain[0]) + "\n[bold]" + escape(plain[1]) + "[/bold]")
    stack: list[tuple[int, Any]] = [(-1, root)]
    for line in plain[2:]:
        depth = 0
        while line[depth * 3:depth * 3 + 3] in ("│  ", "   "):
            depth += 1
        text = line[depth * 3 + 3:]
        while stack[-1][0] >= depth:
            stack.pop()
        style = "green" if text.startswith("✔") else "red" if text.startswith("✘") else ""
        node = stack[-1][1].add(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))
        stack.append((depth, node))
    return root
