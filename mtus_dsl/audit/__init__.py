"""`mtus audit`: decide a table of requests (JSONL, CSV, Parquet) into a table of decisions, streaming.

DuckDB reads the input, maps its columns to the case format (mapping.py) and
writes the outputs with COPY, so memory stays bounded whatever the input's size.
Rows are decided by the Python engine (one row at a time, inside the query, as a
function) or by the SQL backend (`mtus_dsl.compiler.sql.decide_duckdb`), whose
`needs_information` rows and doubtful rows go to the Python engine: it is the
reference. Needs the `audit` extra (duckdb, numpy, rich).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from mtus_dsl import runtime as rt
from mtus_dsl.audit.mapping import (
    RAW,
    AuditError,
    Mapping,
    Source,
    case_json,
    clean_object,
    jsonl_rows,
    literal,
    plan_sources,
    quote,
    raw_line,
    read_mapping,
    typed_relation,
)
from mtus_dsl.case import CaseError
from mtus_dsl.case_text import MAX_CASE_BYTES, BadJSON, read_json
from mtus_dsl.decision import Citation, Decision, Outcome
from mtus_dsl.engine import THREE_VALUED_ON_RECORD
from mtus_dsl.schedule import Schedule

__all__ = ["ENGINES", "AuditError", "Mapping", "Summary", "audit", "read_mapping"]

#: Input formats by file ending.
INPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv",
                 ".parquet": "parquet", ".pq": "parquet"}
#: Output formats by file ending.
OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
#: Engines: `auto` is duckdb when the SQL backend is installed, else python; spark runs on Apache Spark.
ENGINES = ("auto", "duckdb", "python", "spark")
#: DuckDB's memory ceiling: its operators spill to a temporary folder beyond it. At 512MB the writer, which keeps
#: the rows' order, waited for room on two threads (10,000,000 rows: 49 s wall, 24 s at 768MB; peak RSS 437 MiB).
MEMORY_LIMIT = "768MB"

#: The decision a row gets, as one struct (the Python engine's answer, the SQL answer rendered the same way).
DECISION_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("service", "VARCHAR"),
    ("body_region", "VARCHAR"),
    ("outcome", "VARCHAR"),
    ("requested", "BIGINT"),
    ("approved", "BIGINT"),
    ("unit", "VARCHAR"),
    ("rules", "VARCHAR[]"),
    ("document", "VARCHAR"),
    ("edition", "VARCHAR"),
    ("section", "VARCHAR"),
    ("pages", "VARCHAR"),
    ("citations", "VARCHAR"),
    ("missing", "VARCHAR[]"),
    ("assumed", "VARCHAR[]"),
    ("rationale", "VARCHAR"),
    ("trace", "VARCHAR"),
    ("rejected", "BOOLEAN"),
)
#: The output's columns, in order (rationale and trace only when asked).
OUTPUT_COLUMNS = ("row",) + tuple(name for name, _ in DECISION_FIELDS if name != "rejected")


@attrs.frozen
class Summary:
    """What an audit did: rows read, decided and rejected, outcomes by service and region, facts missing."""

    rows: int
    decided: int
    rejected: int
    failed: int  # rows on which a guideline failed (also counted in rejected)
    engine: str
    outcomes: tuple[tuple[str, str, str, int], ...]  # (service, body_region, outcome, rows)
    missing: tuple[tuple[str, int], ...]  # (fact, rows that lacked it), most often first
    output: str
    errors: str


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise AuditError("error: mtus audit needs DuckDB: pip install 'mtus-dsl[audit]'") from None
    return duckdb


def sql_backend() -> Any | None:
    """The SQL backend module (mtus_dsl.compiler.sql), or None when this build has none."""
    try:
        import importlib

        return importlib.import_module("mtus_dsl.compiler.sql")
    except ImportError:
        return None


def input_format(path: str, given: str | None) -> str:
    """The format of an input: given, or told by its ending; raise AuditError."""
    if given is not None:
        return given
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in INPUT_FORMATS:
        raise AuditError(
            f"{path}: error: cannot tell the format from '{suffix or 'no ending'}'; name the file "
            f"{', '.join(sorted(INPUT_FORMATS))}, or give --format jsonl|csv|parquet"
        )
    return INPUT_FORMATS[suffix]


def output_format(path: str, what: str = "output") -> str:
    """The format of an output file, told by its ending; raise AuditError."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise AuditError(
            f"{path}: error: cannot tell the {what} format from '{suffix or 'no ending'}'; "
            "end the name in .parquet, .csv or .jsonl"
        )
    return OUTPUT_FORMATS[suffix]


def default_errors_path(output: str) -> str:
    """Where bad rows go by default: next to the output, `NAME.errors.EXT`."""
    path = Path(output)
    return str(path.with_name(path.stem + ".errors" + path.suffix))


#: What an empty input is told (a CSV file's first).
_EMPTY = ("the file is empty", "the file is empty; a CSV file needs its header row")


def _same(one: str, other: str) -> bool:
    """Whether two paths name one file: by identity when both exist (a symbolic or hard link is the file it names),
    else by their real paths (an output not written yet, a link to a file not there yet)."""
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):
        return os.path.realpath(one) == os.path.realpath(other)


def _distinct(input_path: str, output: str, errors: str, mapping: str | None = None) -> None:
    """Refuse an errors file that is the output, or an output or errors file that is the input or the mapping file."""
    if _same(errors, output):
        raise AuditError(f"{errors}: error: the errors file cannot be the output too; give --errors another name")
    if input_path != "-" and (_same(input_path, output) or _same(input_path, errors)):
        raise AuditError(f"{input_path}: error: the input cannot be overwritten by the audit; write elsewhere")
    if mapping is not None and (_same(mapping, output) or _same(mapping, errors)):
        raise AuditError(f"{mapping}: error: the mapping file cannot be overwritten by the audit; write elsewhere")


def _reader(fmt: str, path: str, name: str, con: Any, work: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(the SQL table expression that reads the input, numbered (`__row`), its columns {name: DuckDB type}, RAW and
    TEXT left out, and the name each column has in the expression).

    The expression names the table's columns by position (`__c1`, `__c2`, ...), whatever the file calls them:
    DuckDB's names ignore case, and none of a table's names can then clash with the audit's own.
    """
    location = literal(path)
    if os.path.getsize(path) == 0:
        raise AuditError(_EMPTY[fmt == "csv"])
    if fmt == "csv":
        # The delimiter is told by the ending, not guessed: a guess on a ragged file reads one wide column.
        delimiter = "\t" if name.lower().endswith(".tsv") else ","
        header = _header(path, delimiter)
        if len(set(header)) != len(header) or not all(header):
            raise AuditError("the header row must name every column once (a column is blank or named twice)")
        names = ", ".join(f"{literal(_column(i))}: 'VARCHAR'" for i in range(len(header)))
        numbered = (f"(SELECT row_number() OVER () AS __row, * FROM read_csv({location}, header = true, "
                    f"auto_detect = false, delim = {literal(delimiter)}, quote = '\"', escape = '\"', "
                    f"columns = {{{names}}}))")
        return numbered, dict.fromkeys(header, "VARCHAR"), {column: _column(i) for i, column in enumerate(header)}
    if fmt == "jsonl":
        return _jsonl_reader(path, con, work)
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({location})").fetchall()
    own = parquet_names(con, location, [str(row[0]) for row in described])
    if len(set(own)) != len(own):
        twice = next(n for i, n in enumerate(own) if n in own[:i])
        raise AuditError(f"the file must name every column once: it names the column '{twice}' {own.count(twice)} "
                         "times")
    table = {column: str(row[1]) for column, row in zip(own, described)}
    aliases = ", ".join(_column(i) for i in range(len(table)))
    # DuckDB's names ignore case: a column FILE_ROW_NUMBER is in the way of its row numbers too.
    if any(str(row[0]).lower() == "file_row_number" for row in described):
        numbered = f"(SELECT row_number() OVER () AS __row, * FROM read_parquet({location}) AS __table({aliases}))"
    else:
        # Parquet numbers its rows as it reads them, in parallel (row_number() OVER () reads on one thread).
        numbered = (f"(SELECT file_row_number + 1 AS __row, * EXCLUDE (file_row_number) "
                    f"FROM read_parquet({location}, file_row_number = true) AS __table({aliases}))")
    return numbered, table, {column: _column(i) for i, column in enumerate(table)}


def parquet_names(con: Any, location: str, described: list[str]) -> list[str]:
    """A Parquet file's top-level column names as the file has them (`location`: its path as a SQL literal).

    DuckDB renames what it cannot take as it is (`""` to `C3`, a name given twice, whatever its case, to `a_1`):
    the audit's messages and the mapping file name the file's own columns. Its schema lists every node, children
    after their parent (a list's and a struct's too): the top-level ones are the root's children. DuckDB's names
    `described` when the schema does not tell as many columns.
    """
    nodes = con.execute(f"SELECT name, num_children FROM parquet_schema({location})").fetchall()
    names: list[str] = []
    at = 1  # the root's children, each followed by its own
    while at < len(nodes) and len(names) < len(described):
        names.append(str(nodes[at][0]))
        pending = 1
        while pending and at < len(nodes):
            pending += int(nodes[at][1] or 0) - 1
            at += 1
    return names if len(names) == len(described) and at == len(nodes) else described


def _column(index: int) -> str:
    """The name the reader gives the table's column at `index` (0-based)."""
    return f"__c{index + 1}"


def _header(path: str, delimiter: str) -> list[str]:
    """A CSV file's header row; raise AuditError when it is not UTF-8 (a later row's bad byte is DuckDB's to tell,
    with its line)."""
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        header = next(csv.reader(stream, delimiter=delimiter), [])
    try:
        "".join(header).encode("utf-8")
    except UnicodeEncodeError:
        # The file's first bad byte is the header's: find where it is in the bytes.
        with open(path, "rb") as raw:
            head = raw.read(4 * sum(len(column) + 3 for column in header))
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:
            raise AuditError(f"not valid UTF-8: byte 0x{head[error.start:error.start + 1].hex()} at byte "
                             f"{error.start + 1} of the header row (the file must be UTF-8)") from None
    return header


#: Bytes DuckDB's line reader would take for a line's end (a carriage return not before a line feed) or a cell's
#: (its delimiter, \x01), or not keep (NUL): `mtus decide` splits a batch on line feeds only.
_ODD_BYTES = (b"\x00", b"\x01")


def _odd_lines(path: str) -> bool:
    """Whether a JSONL file has a byte that DuckDB's line reader would split or cut a line on (_ODD_BYTES)."""
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 24):
            if chunk.endswith(b"\r"):
                chunk += stream.read(1)
            if any(odd in chunk for odd in _ODD_BYTES) or chunk.count(b"\r") != chunk.count(b"\r\n"):
                return True
    return False


def _quoted_lines(path: str, work: str) -> str:
    """A JSONL file's lines written as a quoted CSV of (line number, line) in `work`, split on line feeds only as
    `mtus decide` splits them: its path. For a file DuckDB's line reader would misread (_odd_lines)."""
    quoted = os.path.join(work, "lines.csv")
    with open(path, "rb") as source, open(quoted, "w", encoding="utf-8", newline="") as target:
        writer = csv.writer(target, quoting=csv.QUOTE_ALL, lineterminator="\n")
        number = 0
        while line := source.readline(MAX_CASE_BYTES + 2):
            number += 1
            if len(line.removesuffix(b"\n")) > MAX_CASE_BYTES:
                raise AuditError(f"cannot read it as jsonl: line {number}: longer than {MAX_CASE_BYTES} bytes")
            try:
                text = line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise AuditError(f"cannot read it as jsonl: line {number}: invalid unicode: byte "
                                 f"0x{line[error.start:error.start + 1].hex()} (the file must be UTF-8)") from None
            writer.writerow((number, text.removesuffix("\n")))
    return quoted


def _jsonl_reader(path: str, con: Any, work: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """JSONL read line by line as text: a line that is not a JSON object (or names a key twice) is one bad row,
    kept whole in RAW for the Python engine to reject as `mtus decide` does, never a failed file.

    Every field is read as JSON: a string stays a string, so types are checked as
    for `mtus decide`. The keys come from every object line, not a sample: a key
    first seen late is never ignored. Blank lines are skipped, as by `mtus decide`;
    a row's number is its line's, as in decide's messages.
    """
    blank = literal(" " + chr(9) + chr(13))
    if _odd_lines(path):
        lines = (f"(SELECT __row, __line FROM read_csv({literal(_quoted_lines(path, work))}, columns = {{'__row': "
                 f"'BIGINT', '__line': 'VARCHAR'}}, header = false, auto_detect = false, delim = ',', quote = '\"', "
                 f"escape = '\"', new_line = '\\n', max_line_size = {2 * MAX_CASE_BYTES + 64}) "
                 f"WHERE trim(__line, {blank}) <> '')")
    else:
        # No field delimiter (a JSON line has no raw control character) and no quoting: each line is one cell.
        lines = (f"(SELECT * FROM (SELECT row_number() OVER () AS __row, __line FROM read_csv({literal(path)}, "
                 f"columns = {{'__line': 'VARCHAR'}}, header = false, auto_detect = false, delim = {literal(chr(1))}, "
                 f"quote = '', escape = '', strict_mode = false, max_line_size = {MAX_CASE_BYTES + 2})) "
                 f"WHERE trim(__line, {blank}) <> '')")
    checked = f"(SELECT __line, {clean_object('__line')} AS __object FROM {lines})"
    keys = [str(row[0]) for row in con.execute(
        f"SELECT DISTINCT unnest(json_keys(__line)) AS k FROM {checked} WHERE __object ORDER BY k").fetchall()]
    names = [_column(i) for i in range(len(keys))]
    return (f"({jsonl_rows(keys, lines, '__line', keep=('__row',), names=names)})", dict.fromkeys(keys, "JSON"),
            dict(zip(keys, names)))


class _Rows:
    """Decides rows with the Python engine, as a DuckDB function; writes bad rows to the errors file."""

    def __init__(self, schedule: Schedule, decide: Callable[[Any], Decision], errors: IO[str], rationale: bool,
                 trace: bool, progress: Callable[[int], None] | None):
        self.schedule = schedule
        self.decide_one = decide
        self.errors = errors
        self.rationale = rationale
        self.trace = trace
        self.progress = progress
        self.citations = {rule.name: rule.citation for rule in schedule.engine.plan.rules}
        self.cited: dict[tuple[str, ...], dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.done = 0
        self.failed = 0

    def reject(self, row: int, case_id: Any, problems: list[tuple[str, str]]) -> None:
        """Write a bad row's problems to the errors file, one line each."""
        with self.lock:
            for field, message in problems:
                self.errors.write(json.dumps({"row": row, "id": _text(case_id) if isinstance(case_id, str) else None,
                                              "field": _text(field), "message": _text(message)}) + "\n")

    def __call__(self, row: int, text: str | None, raw: str | None = None) -> str:
        answer, case_id, problems, failed = self.answer(text, raw)
        if problems:
            self.reject(row, case_id, problems)
        if failed or self.progress is not None:
            with self.lock:
                self.failed += failed
                self.done += 1
                if self.progress is not None and self.done % 1000 == 0:
                    self.progress(self.done)
        return answer

    def answer(self, text: str | None, raw: str | None = None) -> tuple[str, Any, list[tuple[str, str]], bool]:
        """Decide one row's case JSON: (the decision's columns as JSON, the case's id, the row's problems, whether a
        guideline failed on it). A rejected row's JSON says so and its problems say why.

        `raw`: instead, a JSONL line that is not a clean JSON object, read as `mtus decide` reads a line.
        """
        data: Any
        if raw is not None:
            try:
                data = read_json(raw.encode("utf-8", "surrogatepass"))
            except BadJSON as error:
                return _REJECTED, None, [("", f"{error.message} (column {error.column})")], False
        else:
            assert text is not None
            # The case the columns make is read as decide reads a case: a cell's JSON may be nested too deep, hold
            # a number too long or give a key twice.
            try:
                data = read_json(text.encode("utf-8"))
            except BadJSON as error:
                return _REJECTED, None, [("", error.message)], False
            data = {k: v for k, v in data.items() if v is not None}
        case_id = data.get("id") if isinstance(data, dict) else None
        try:
            decision = self.decide_one(data)
            return self.render(decision, data), case_id, [], False
        except CaseError as error:
            return _REJECTED, case_id, [(p.field, p.message) for p in error.errors], False
        except rt.RuleError as error:
            message = str(error) if error.where is not None else f"a guideline failed on this case: {error}"
            return _REJECTED, case_id, [("", message)], True
        except Exception as error:  # one row must never stop the others
            return _REJECTED, case_id, [("", f"internal error (a bug in mtus-dsl, please report it): "
                                             f"{type(error).__name__}: {error}")], True

    def render(self, decision: Decision, data: dict[str, Any]) -> str:
        """A decision as the output's columns, in JSON (DuckDB reads it back as one struct, much faster than a
        struct returned by a Python function)."""
        rules = decision.rules
        cited = self.cited.get(rules)
        if cited is None:
            cited = self.cited[rules] = self.cite(rules)
        return json.dumps({
            # A lone surrogate (a JSON escape of a case's) spelled out: DuckDB reads no such JSON.
            "id": _text(decision.id) if decision.id is not None else None,
            "service": data.get("service"),
            "body_region": data.get("body_region"),
            "outcome": decision.outcome.value,
            "requested": decision.requested,
            "approved": decision.approved,
            "unit": decision.unit,
            "rules": rules,
            **cited,
            "missing": decision.missing,
            # Each assumption as `field = value` (its value as JSON): the reason is the field's declaration's.
            "assumed": tuple(f"{a.field} = {json.dumps(a.to_dict()['value'])}" for a in decision.assumed),
            "rationale": _text(decision.rationale) if self.rationale else None,
            "trace": json.dumps([t.to_dict() for t in decision.trace]) if self.trace else None,
            "rejected": False,
        })

    def cite(self, rules: tuple[str, ...]) -> dict[str, Any]:
        """The citation columns of a decision by these rules: each rule's citation once, in order (as the engine
        cites them), read from the plan so that an explanation is rendered only for a rationale or trace."""
        citations = tuple(dict.fromkeys(self.citations[rule] for rule in rules))
        first = citation_columns(citations[0]) if citations else {}
        return {**{k: first.get(k) for k in ("document", "edition", "section", "pages")},
                "citations": "; ".join(str(c) for c in citations) or None}


_REJECTED = json.dumps({"rejected": True})


def _text(value: str) -> str:
    """Text with a lone surrogate (from a case's JSON) spelled out as `\\udXXX`: DuckDB reads no such JSON."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def decision_struct() -> str:
    """The DuckDB struct type of a decision's columns, as from_json reads the Python engine's answer."""
    return "{" + ", ".join(f'"{name}": "{sql}"' for name, sql in DECISION_FIELDS) + "}"


def deciding(schedule: Schedule, on_record: bool, three_valued: bool = False) -> Callable[[Any], Decision]:
    """The function that decides one case: `schedule.decide`, on the record when asked, or by three-valued logic."""
    if three_valued:
        return schedule.engine.three_valued
    if not on_record:
        return schedule.decide
    return functools.partial(schedule.decide, on_record=True)


@contextlib.contextmanager
def _spooled_stdin(stream: IO[bytes] | None) -> Iterator[str]:
    """Copy standard input to a temporary file (DuckDB reads files; Parquet needs to seek): its path."""
    with tempfile.NamedTemporaryFile(prefix="mtus-audit-stdin-", delete=False) as spool:
        shutil.copyfileobj(stream if stream is not None else sys.stdin.buffer, spool, 1 << 20)
    try:
        yield spool.name
    finally:
        os.unlink(spool.name)


def audit(
    schedule: Schedule,
    input_path: str,
    output: str,
    *,
    errors: str | None = None,
    fmt: str | None = None,
    mapping: Mapping | None = None,
    engine: str = "auto",
    on_record: bool = False,
    rationale: bool = False,
    trace: bool = False,
    stdin: IO[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
    redecide: bool = True,
) -> Summary:
    """Decide every row of `input_path` (`-`: standard input) into `output`; bad rows into `errors`.

    Raise AuditError (one located message) for a bad input, output, mapping or engine.
    `redecide=False` decides by three-valued logic alone (`Engine.three_valued`, what the SQL
    backend computes): its needs_information answers are kept, not searched by the Python engine
    (much faster where many facts are unknown; `missing` then names the facts of the first rules
    that cannot be settled, whether or not they change the answer, and a row they cannot change stays
    needs_information). It cannot decide on the record.
    """
    if on_record and not redecide:
        raise AuditError(f"error: {THREE_VALUED_ON_RECORD}")
    in_format = input_format(input_path, fmt)
    out_format = output_format(output)
    errors = errors or default_errors_path(output)
    errors_format = output_format(errors, "errors file")
    if engine == "spark":
        return _audit_on_spark(schedule, input_path, output, errors, in_format, out_format, errors_format,
                               mapping or Mapping(), on_record, rationale, trace, stdin, redecide)
    _writable(output)
    _writable(errors)
    _distinct(input_path, output, errors, mapping.path if mapping is not None else None)
    if engine not in ENGINES:
        raise AuditError(f"error: unknown engine '{engine}' (engines: {', '.join(ENGINES)})")
    backend = sql_backend()
    if engine == "duckdb" and backend is None:
        raise AuditError("error: --engine duckdb needs the SQL backend (mtus_dsl.compiler.sql), which this build "
                         "does not have; use --engine python")
    chosen = "duckdb" if engine == "auto" and backend is not None else "python" if engine == "auto" else engine
    decide = deciding(schedule, on_record, three_valued=not redecide)
    mapping = mapping or Mapping()
    if input_path == "-":
        with _spooled_stdin(stdin) as spooled:
            return _audit(schedule, spooled, "<stdin>", in_format, output, out_format, errors, errors_format,
                          mapping, chosen, decide, rationale, trace, progress, threads, backend, redecide)
    if os.path.isdir(input_path):
        raise AuditError(f"{input_path}: error: cannot read it: it is a directory")
    if not os.path.exists(input_path):
        raise AuditError(f"{input_path}: error: no such file")
    if not os.path.isfile(input_path):
        # A pipe (or a device) is read once, as `mtus decide` reads it: copied first, as standard input is.
        try:
            stream = open(input_path, "rb")
        except OSError as error:
            raise AuditError(f"{input_path}: error: cannot read it: {error.strerror or error}") from None
        with stream, _spooled_stdin(stream) as spooled:
            return _audit(schedule, spooled, input_path, in_format, output, out_format, errors, errors_format,
                          mapping, chosen, decide, rationale, trace, progress, threads, backend, redecide)
    return _audit(schedule, input_path, input_path, in_format, output, out_format, errors, errors_format, mapping,
                  chosen, decide, rationale, trace, progress, threads, backend, redecide)


def _audit_on_spark(schedule: Schedule, input_path: str, output: str, errors: str, in_format: str,
                    out_format: str, errors_format: str, mapping: Mapping, on_record: bool, rationale: bool,
                    trace: bool, stdin: IO[bytes] | None, redecide: bool) -> Summary:
    """The audit on Spark: its outputs are Spark datasets (directories of part files), replaced if present."""
    from mtus_dsl.audit import spark

    backend = sql_backend()
    if backend is None:
        raise AuditError("error: --engine spark needs the SQL backend (mtus_dsl.compiler.sql): "
                         "pip install 'mtus-dsl[spark]'")
    for path, what in ((output, "output"), (errors, "errors")):
        if not spark.remote(path) and os.path.isfile(path):
            raise AuditError(f"{path}: error: the Spark engine writes its {what} as a directory of part files, and "
                             "a file of that name is in the way; remove it or write elsewhere")
        if not spark.remote(path):
            _writable_folder(path)
    _distinct(input_path, output, errors, mapping.path)
    if input_path == "-":
        with _spooled_stdin(stdin) as spooled:
            return spark.audit_spark(schedule, spooled, "<stdin>", in_format, output, out_format, errors,
                                     errors_format, mapping, on_record, rationale, trace, backend, redecide)
    if not spark.remote(input_path):
        if not os.path.isfile(input_path):
            raise AuditError(f"{input_path}: error: no such file")
        if os.path.getsize(input_path) == 0:
            raise AuditError(f"{input_path}: error: {_EMPTY[in_format == 'csv']}")
    return spark.audit_spark(schedule, input_path, input_path, in_format, output, out_format, errors, errors_format,
                             mapping, on_record, rationale, trace, backend, redecide)


def _audit(schedule: Schedule, path: str, name: str, in_format: str, output: str, out_format: str, errors: str,
           errors_format: str, mapping: Mapping, engine: str, decide: Callable[[Any], Decision], rationale: bool,
           trace: bool, progress: Callable[[int], None] | None, threads: int | None, backend: Any,
           redecide: bool) -> Summary:
    duckdb = _duckdb()
    work = tempfile.mkdtemp(prefix="mtus-audit-")
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": os.path.join(work, "spill"),
                                 **({"threads": threads} if threads else {})})
    con.execute("SET enable_progress_bar = false")  # ours (rich) is the one shown
    # An IN list of five or more constants would become a join, which loses the rows' order (the output keeps the
    # input's without a sort, see _duckdb_query); evaluated as it is written, it is no slower.
    con.execute("SET disabled_optimizers = 'in_clause'")
    try:
        try:
            numbered, table, renamed = _reader(in_format, path, name, con, work)
        except duckdb.Error as error:
            raise AuditError(f"{name}: error: cannot read it as {in_format}: {_first_line(error)}") from None
        except AuditError as error:
            raise AuditError(f"{name}: error: {error}") from None
        except OSError as error:
            raise AuditError(f"{name}: error: cannot read it: {error.strerror or error}") from None
        # A JSONL file with no object line has no columns: each of its lines is a row rejected as decide rejects it.
        locate = _locator(con, numbered, renamed) if in_format == "jsonl" else None
        sources = plan_sources(schedule.schema, table, mapping, name, locate) if table or in_format != "jsonl" else []
        raw = raw_line(in_format, sources, mapping)
        sources = [_reading(source, renamed) for source in sources]
        decided_parquet = os.path.join(work, "decided.parquet")
        errors_jsonl = os.path.join(work, "errors.jsonl")
        with open(errors_jsonl, "w", encoding="utf-8") as errors_stream:
            rows = _Rows(schedule, decide, errors_stream, rationale, trace, progress)
            con.create_function("mtus_decide_json", rows, ["BIGINT", "VARCHAR", "VARCHAR"], "VARCHAR",
                                null_handling="special",
                                side_effects=True)
            # `raw`: a JSONL line that is not a clean object, read by the Python engine itself (text is then NULL).
            con.execute(f"CREATE TEMP MACRO mtus_decide(row, text, raw) AS "
                        f"from_json(mtus_decide_json(row, text, raw), {literal(decision_struct())})")
            if engine == "python" or not sources:
                query = _python_query(numbered, sources, mapping, schedule, raw)
            else:
                # The SQL backend neither explains nor decides on the record: then every row goes to Python.
                lean = decide in (schedule.decide, schedule.engine.three_valued)
                query = _duckdb_query(con, numbered, sources, mapping, schedule, backend,
                                      rationale or trace or not lean, redecide, raw)
            # Parquet is written once, straight from the query; another format from a Parquet file in between.
            target = output + ".partial" if out_format == "parquet" else decided_parquet
            columns = [c for c in OUTPUT_COLUMNS if (c != "rationale" or rationale) and (c != "trace" or trace)]
            _copy(con, f"SELECT {', '.join(columns)} FROM ({query}) WHERE NOT rejected", target, "parquet",
                  f"{name}: error: cannot read a row")
        if progress is not None:
            progress(rows.done)
        summary = _summarise(con, target, errors_jsonl, engine, output, errors, rows.failed)
        if out_format == "parquet":
            os.replace(target, output)  # written whole or not at all: a failed audit leaves no half a table
        else:
            _write(con, target, output, out_format, columns)
        _write_errors(con, errors_jsonl, errors, errors_format)
        return summary
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.unlink(output + ".partial")


def _locator(con: Any, numbered: str, renamed: dict[str, str]) -> Callable[[str], tuple[int, int] | None]:
    """Where a JSONL file's key is: (the first line that has it, how many lines have it), for a stray key's message
    (one more pass over the file, only when the audit stops for it)."""
    def locate(key: str) -> tuple[int, int] | None:
        # A key a line gives is a JSON value there, `null` too; a line without it reads NULL.
        query = f"SELECT min(__row), count(*) FROM {numbered} WHERE {quote(renamed[key])} IS NOT NULL"
        try:
            first, count = con.execute(query).fetchall()[0]
        except Exception:  # DuckDB's errors: the message is told without the line rather than not at all
            return None
        return (int(first), int(count)) if first is not None else None
    return locate


def _reading(source: Source, renamed: dict[str, str]) -> Source:
    """A source reading the columns of the reader's expression (named by position, see _reader)."""
    return attrs.evolve(source, column=renamed[source.column] if source.column is not None else None,
                        groups=tuple(tuple((field, renamed[column], column_type)
                                           for field, column, column_type in group) for group in source.groups))


def _first_line(error: Exception) -> str:
    """DuckDB's message without its advice: the first line, and for a CSV error its line, cause and row."""
    text = str(error).strip()
    found = re.match(r".*CSV Error on Line: (\d+)\n(?:Original Line: )?", text)
    if found:
        # The row as found (the first of its lines: a cell with an unterminated quote runs on), then the cause:
        # the last line before the advice.
        body = re.split(r"\n\s*\nPossible |\nPossible |\n\n  file = ", text[found.end():], maxsplit=1)[0].rstrip()
        row, _, cause = body.rpartition("\n")
        if row:
            return f"line {found.group(1)}: {cause.strip().rstrip('.').lower()}: {row.split(chr(10), 1)[0]}"
    return text.split("\n", 1)[0]


def _python_query(numbered: str, sources: list[Source], mapping: Mapping, schedule: Schedule, raw: str) -> str:
    """Every row decided by the Python engine, inside the query (the reference, and the fallback)."""
    case = case_json(sources, mapping, schedule.schema)
    return (f"SELECT __row AS row, d.* FROM (SELECT __row, mtus_decide(__row, CASE WHEN {raw} IS NULL THEN "
            f"CAST({case} AS VARCHAR) END, {raw}) AS d FROM {numbered})")


def _duckdb_query(con: Any, numbered: str, sources: list[Source], mapping: Mapping, schedule: Schedule,
                  backend: Any, everything_in_python: bool, redecide: bool, raw: str) -> str:
    """Rows decided by the SQL backend; doubtful and needs_information rows (or all, when asked) by Python.

    One pass over the table: every row goes through the backend's query, a row
    that is not certainly valid with its fields blanked (so that no bad value can
    fail the query) and then decided by Python. The columns the Python engine
    reads ride through the query in one struct, so no row is joined back.
    """
    fields = [spec.name for spec in schedule.schema.inputs]
    identity, ok, columns = typed_relation(sources, mapping, schedule.schema, backend.column_types(schedule.schema))
    read = sorted({s.column for s in sources if s.column} | {c for s in sources for g in s.groups for _, c, _ in g})
    kept = ", ".join([f"{literal(c)}: {quote(c)}" for c in ("__row", "__id", "__ok", "__t_service", "__t_body_region",
                                                            *read)] + [f"{literal(RAW)}: {raw}"])
    blanked = ", ".join(f"CASE WHEN __ok THEN {quote('__t_' + f)} END AS {quote(f)}" for f in fields)
    con.execute(f"CREATE TEMP VIEW mtus_cases AS SELECT __row AS id, {blanked}, {{{kept}}} AS __kept FROM "
                f"(SELECT *, {identity} AS __id, {ok} AS __ok, {columns} FROM {numbered})")
    try:
        # Its text goes into the audit's query: a view of the relation would be bound once more (0.08 s).
        decided = backend.decide_duckdb(schedule, con, source="mtus_cases", keep=("__kept",)).sql_query()
    except Exception as error:  # the backend's query would not build: a bug, reported without a traceback
        raise AuditError(f"error: internal error (a bug in mtus-dsl, please report it): the SQL backend failed: "
                         f"{_first_line(error)}; --engine python decides without it") from None
    enums = _enum_types(con, schedule)
    cite = _citations(schedule, enums)
    case = f"CAST({case_json(sources, mapping, schedule.schema)} AS VARCHAR)"
    texts = f"list_transform(__s_rules, lambda r: {cite}[r].text)"  # each once, in order, as the engine cites them
    python_row = f"mtus_decide(__row, CASE WHEN {RAW} IS NULL THEN {case} END, {RAW})"
    # Each column of a row the SQL decided (the rows Python decides read theirs from its answer, `__p`).
    # A column of few values is an ENUM (_enum_types): Parquet's writer then takes its dictionary as it is instead
    # of hashing every row's text (1,000,000 rows: 0.83 to 0.61 s writing, 0.1 s casting); it is read back as text.
    sql_columns = {
        "id": "__id", "service": f"CAST(__t_service AS {enums['service']})",
        "body_region": f"CAST(__t_body_region AS {enums['body_region']})",
        "outcome": f"CAST(__s_outcome AS {enums['outcome']})", "requested": "__s_requested",
        "approved": "__s_approved", "unit": f"CAST(__s_unit AS {enums['unit']})", "rules": "__s_rules",
        "document": "__c.document", "edition": "__c.edition", "section": "__c.section", "pages": "__c.pages",
        # Most decisions have one rule: its citation is the first's; a rule and its caps look theirs up.
        "citations": "CASE WHEN len(__s_rules) = 1 THEN __c.text WHEN len(__s_rules) > 1 THEN "
                     f"array_to_string(list_filter({texts}, lambda t, i: list_position({texts}, t) = i), '; ') END",
        "missing": "__s_missing", "assumed": "CAST([] AS VARCHAR[])", "rationale": None, "trace": None,
        "rejected": "false",
    }
    python = "NOT __ok OR __s_error IS NOT NULL" + (" OR __s_outcome = 'needs_information'" if redecide else "")
    if everything_in_python:
        python = "true"
    # The table's columns come back out of the struct under their own names, for the Python engine's case.
    answers = ("SELECT __kept.*, outcome AS __s_outcome, requested AS __s_requested, approved AS __s_approved, "
               "unit AS __s_unit, rules AS __s_rules, missing AS __s_missing, error AS __s_error, "
               f"CASE WHEN len(rules) > 0 THEN {cite}[rules[1]] END AS __c FROM ({decided})")
    # Column by column, not one struct a row: most rows are the SQL's, and building a struct to take it apart
    # again costs more than the choice.
    python_columns = {name: f"CAST(__p.{name} AS {enums[name]})" if name in enums else f"__p.{name}"
                      for name, _ in DECISION_FIELDS}
    chosen = ", ".join(f"{python_columns[name]} AS {name}" if sql_columns[name] is None else
                       f"CASE WHEN __p IS NULL THEN {sql_columns[name]} ELSE {python_columns[name]} END AS {name}"
                       for name, _ in DECISION_FIELDS)
    # No join and no sort: the rows keep the input's order (DuckDB keeps it through scans, projections and
    # filters; the connection turns no IN list into a join, see _audit). tests/test_audit.py reads many row groups
    # on two threads to hold it to that.
    return (f"SELECT __row AS row, {chosen} FROM (SELECT *, CASE WHEN {python} THEN {python_row} END AS __p "
            f"FROM ({answers}))")


def citation_columns(citation: Citation) -> dict[str, str | None]:
    """A citation as the output's columns (document, edition, section, pages) and its text."""
    return {"document": citation.document, "edition": citation.edition, "section": citation.section,
            "pages": citation.pages or citation.subsection, "text": str(citation)}


def _enum_types(con: Any, schedule: Schedule) -> dict[str, str]:
    """Create an ENUM type for each output column of few values, on the connection: column -> type name.

    Every value the engines can write is a member (an outcome, a unit of the plan's rules, a service or body region
    of the schema, a field of a rule's citation), so no cast of a decided row can fail.
    """
    rules = schedule.engine.plan.rules
    members: dict[str, set[str]] = {
        "outcome": {str(o) for o in Outcome},
        "unit": {r.unit for r in rules} | {"units"},
        **{field: set(_members(schedule, field)) for field in ("service", "body_region")},
        **{field: {v for r in rules if (v := citation_columns(r.citation)[field]) is not None}
           for field in ("document", "edition", "section", "pages")},
    }
    types = {}
    for column, values in members.items():
        name = f"mtus_{column}"
        con.execute(f"CREATE TYPE {name} AS ENUM ({', '.join(literal(v) for v in sorted(values)) or literal('')})")
        types[column] = name
    return types


def _members(schedule: Schedule, field: str) -> tuple[str, ...]:
    """The members of an enum input (service, body_region)."""
    spec = next(s for s in schedule.schema.inputs if s.name == field)
    return schedule.schema.enums.get(spec.type.name or "", ())


def _citations(schedule: Schedule, enums: dict[str, str]) -> str:
    """A MAP literal: each rule's name -> its citation's columns (document, edition, section, pages, text)."""
    pairs = []
    for rule in schedule.engine.plan.rules:
        values = ", ".join(f"{literal(k)}: CAST({'NULL' if v is None else literal(v)} AS {enums.get(k, 'VARCHAR')})"
                           for k, v in citation_columns(rule.citation).items())
        pairs.append(f"{literal(rule.name)}: {{{values}}}")
    return f"MAP {{{', '.join(pairs)}}}" if pairs else "MAP {}"


def _summarise(con: Any, decided: str, errors: str, engine: str, output: str, errors_path: str,
               failed: int) -> Summary:
    source = f"read_parquet({literal(decided)})"
    outcomes = con.execute(f"SELECT service, body_region, outcome, count(*) FROM {source} "
                           "GROUP BY ALL ORDER BY service, body_region, outcome").fetchall()
    missing = con.execute(f"SELECT fact, count(*) AS n FROM (SELECT unnest(missing) AS fact FROM {source}) "
                          "GROUP BY fact ORDER BY n DESC, fact LIMIT 10").fetchall()
    decided_rows = sum(int(n) for *_, n in outcomes)
    rejected = 0
    if os.path.getsize(errors):
        reader = f"read_json({literal(errors)}, format = 'newline_delimited', columns = {_ERROR_COLUMNS})"
        rejected = int(con.execute(f"SELECT count(DISTINCT row) FROM {reader}").fetchall()[0][0])
    return Summary(decided_rows + rejected, decided_rows, rejected, failed, engine,
                   tuple((str(a), str(b), str(c), int(n)) for a, b, c, n in outcomes),
                   tuple((str(f), int(n)) for f, n in missing), output, errors_path)


_ERROR_COLUMNS = "{'row': 'BIGINT', 'id': 'VARCHAR', 'field': 'VARCHAR', 'message': 'VARCHAR'}"


def _write(con: Any, decided: str, output: str, fmt: str, columns: list[str]) -> None:
    """Write the decided rows in the output's format: in CSV a list is its items joined by ';'."""
    selected = []
    for column in columns:
        if fmt == "csv" and column in ("rules", "missing", "assumed"):
            selected.append(f"array_to_string({column}, ';') AS {column}")
        elif fmt == "jsonl" and column == "trace":
            selected.append("CAST(trace AS JSON) AS trace")
        else:
            selected.append(column)
    _copy(con, f"SELECT {', '.join(selected)} FROM read_parquet({literal(decided)})", output, fmt)


def _write_errors(con: Any, errors_jsonl: str, errors: str, fmt: str) -> None:
    reader = f"read_json({literal(errors_jsonl)}, format = 'newline_delimited', columns = {_ERROR_COLUMNS})"
    if os.path.getsize(errors_jsonl) == 0:
        reader = "(SELECT NULL::BIGINT AS row, NULL::VARCHAR AS id, NULL::VARCHAR AS field, " \
                 "NULL::VARCHAR AS message WHERE false)"
    _copy(con, f"SELECT row, id, field, message FROM {reader} ORDER BY row", errors, fmt)


def _copy(con: Any, query: str, path: str, fmt: str, blame: str | None = None) -> None:
    """COPY a query's rows to a file; a failure is an AuditError (`blame` says whose: by default the file's)."""
    options = {"parquet": "FORMAT parquet", "csv": "FORMAT csv, HEADER true", "jsonl": "FORMAT json"}[fmt]
    try:
        con.execute(f"COPY ({query}) TO {literal(path)} ({options})")
    except Exception as error:  # duckdb's errors: the paths were checked writable, so mostly a cell unreadable
        raise AuditError(f"{blame or f'{path}: error: cannot write it'}: {_first_line(error)}") from None


def _writable(path: str) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    if os.path.isdir(path):
        raise AuditError(f"{path}: error: cannot write it: it is a directory")
    _writable_folder(path)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise AuditError(f"{path}: error: cannot write it: permission denied")


def _writable_folder(path: str) -> None:
    """Refuse an output path whose folder is missing or cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise AuditError(f"{path}: error: cannot write it: no directory {folder}")
    if not os.access(folder, os.W_OK):
        raise AuditError(f"{path}: error: cannot write it: permission denied")
