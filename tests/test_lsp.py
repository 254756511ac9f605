"""`mtus lsp`, driven over stdio as an editor drives it: framed JSON-RPC to a spawned `mtus lsp`."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mtus_dsl import fmt
from mtus_dsl.cli import main

#: How long to wait for one message before failing (a guard against a hung server, not a speed test).
PATIENCE = 120

GUIDELINE = """\
guideline demo "Demo Massage Guidelines" edition "2020":
    regulation "8 CCR 0000.0"
    in force from 2020-01-01

enum severity: mild, severe

input flare_up: boolean "a documented acute flare-up"

condition myalgia "myalgia and myositis":
    icd9 729.1
    icd10 M79.1*

fact flaring: boolean = flare_up or myalgia in conditions "a flare-up or myalgia"
"""

SECTION = """\
section massage "Massage" in demo pages 60-61:
    services massage
    unit visits

    general: max_visits 6 over 2 weeks unless flaring
        page 60
"""

BROKEN = """\
section massage "Massage" in demo pages 60-61:
    services massage
    unit visits

    general: max_visits 6 over 2 weeks unles flaring
"""


class Client:
    """A minimal LSP client: Content-Length framed JSON-RPC over the server's stdin and stdout."""

    def __init__(self, cwd: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mtus_dsl.cli", "lsp"],
            cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.messages.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def call(self, method: str, params: Any, patience: float = PATIENCE) -> dict[str, Any]:
        """The response to a request: its result or its error."""
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m, patience)

    def request(self, method: str, params: Any) -> Any:
        message = self.call(method, params)
        assert "error" not in message, message
        return message["result"]

    def wait(self, wanted: Any, patience: float = PATIENCE) -> dict[str, Any]:
        """The next message `wanted` accepts (server requests are answered, other messages skipped)."""
        while True:
            message = self.messages.get(timeout=patience)
            if "method" in message and "id" in message:  # a request from the server (registration, ...)
                self.send({"id": message["id"], "result": None})
                continue
            if wanted(message):
                return message

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        message = self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                            and m["params"]["uri"] == uri)
        return message["params"]["diagnostics"]

    def open(self, uri: str, text: str) -> None:
        self.notify("textDocument/didOpen",
                    {"textDocument": {"uri": uri, "languageId": "mtus", "version": 1, "text": text}})


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace").resolve()
    (root / "demo").mkdir()
    (root / "demo" / "demo.mtus").write_text(GUIDELINE)
    (root / "demo" / "massage.mtus").write_text(SECTION)
    return root


@pytest.fixture(scope="module")
def client(workspace: Path):
    pytest.importorskip("pygls")
    client = Client(workspace)
    result = client.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
    client.capabilities = result["capabilities"]
    client.notify("initialized", {})
    yield client
    client.request("shutdown", {})
    client.notify("exit", {})
    assert client.process.wait(timeout=PATIENCE) == 0


def _position(text: str, word: str) -> dict[str, int]:
    for number, line in enumerate(text.split("\n")):
        if word in line:
            return {"line": number, "character": line.index(word) + 1}
    raise AssertionError(word)


def test_initialize_announces_the_features(client):
    """The server says it hovers, completes, goes to definitions and formats."""
    capabilities = client.capabilities
    assert capabilities["hoverProvider"] and capabilities["definitionProvider"]
    assert capabilities["documentFormattingProvider"] and "completionProvider" in capabilities


def test_a_broken_file_gets_its_diagnostics(client, workspace):
    """A misspelled keyword is published as E002 at its line and column, with the did-you-mean."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    client.open(uri, BROKEN)
    found = client.diagnostics(uri)
    assert [d["code"] for d in found] == ["E002"]
    assert found[0]["range"]["start"] == {"line": 4, "character": 39}
    assert "did you mean 'unless'" in found[0]["message"] and found[0]["severity"] == 1
    # Fixed as you type: the diagnostics go away.
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": SECTION}]})
    assert client.diagnostics(uri) == []


def test_hover_shows_a_facts_type_and_description(client, workspace):
    """Hovering over a fact used in another file shows its declaration and description."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": _position(SECTION, "flaring")})
    assert "fact flaring: boolean" in hover["contents"]["value"]
    assert "a flare-up or myalgia" in hover["contents"]["value"]


def test_hover_shows_a_rules_citation_and_a_conditions_codes(client, workspace):
    """A rule's hover cites its guideline, section and page; a condition's lists its code sets."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": _position(SECTION, "general")})
    assert "Demo Massage Guidelines (2020), Massage, p. 60" in hover["contents"]["value"]
    other = (workspace / "demo" / "demo.mtus").as_uri()
    client.open(other, GUIDELINE)
    hover = client.request("textDocument/hover", {"textDocument": {"uri": other},
                                                  "position": _position(GUIDELINE, "myalgia in")})
    assert "ICD-9-CM: 729.1" in hover["contents"]["value"] and "ICD-10-CM: M79.1*" in hover["contents"]["value"]


def test_go_to_definition_across_files(client, workspace):
    """A fact used in one file is defined in another: the location is that file and line."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    location = client.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                          "position": _position(SECTION, "flaring")})
    assert location["uri"] == (workspace / "demo" / "demo.mtus").as_uri()
    assert location["range"]["start"]["line"] == GUIDELINE.split("\n").index(
        next(line for line in GUIDELINE.split("\n") if line.startswith("fact flaring")))


def test_completion_offers_keywords_names_and_enum_values(client, workspace):
    """Completion lists the keywords, the facts, conditions, rules and enum values of the program."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                        "position": {"line": 5, "character": 8}})
    items = result["items"] if isinstance(result, dict) else result
    labels = {item["label"] for item in items}
    assert {"unless", "max_visits", "flaring", "flare_up", "myalgia", "general", "severe"} <= labels


def test_formatting_is_mtus_fmt(client, workspace):
    """Formatting a document replaces it with what mtus fmt makes of it."""
    uri = (workspace / "demo" / "messy.mtus").as_uri()
    messy = "fact   x : boolean = true\n"
    client.open(uri, messy)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 4, "insertSpaces": True}})
    assert [edit["newText"] for edit in edits] == [fmt.format_source(messy)]


def test_without_pygls_the_command_says_how_to_install_it(monkeypatch):
    """No pygls: `mtus lsp` names the extra to install and exits with status 2, no traceback."""
    monkeypatch.setitem(sys.modules, "mtus_dsl.lsp", None)  # importing it now raises ImportError
    result = CliRunner().invoke(main, ["lsp"])
    assert result.exit_code == 2
    assert "pip install 'mtus-dsl[lsp]'" in result.output and "Traceback" not in result.output


# --- a hostile editor: protocol order, odd positions, odd text ---------------------------------------

#: A wait for something that never comes when the server is wrong (a response it never sends).
BRIEF = 15


def _hover(client: Client, uri: str, line: int, character: int) -> str | None:
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": {"line": line, "character": character}})
    return None if hover is None else hover["contents"]["value"]


def _change(client: Client, uri: str, version: int, *changes: dict[str, Any]) -> None:
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": list(changes)})


def _edit(start: tuple[int, int], end: tuple[int, int], text: str) -> dict[str, Any]:
    return {"range": {"start": {"line": start[0], "character": start[1]},
                      "end": {"line": end[0], "character": end[1]}}, "text": text}


def _formatted(client: Client, uri: str) -> Any:
    return client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                      "options": {"tabSize": 4, "insertSpaces": True}})


def test_the_protocols_order_is_kept_with_an_answer_to_every_request(workspace):
    """Before initialize a request is refused (-32002, no traceback); after shutdown too (-32600):
    pygls raised a traceback before, and after shutdown never answered, so the client waited for ever."""
    pytest.importorskip("pygls")
    client = Client(workspace)
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    early = client.call("textDocument/hover", {"textDocument": {"uri": uri},
                                               "position": {"line": 0, "character": 0}}, BRIEF)
    assert early["error"]["code"] == -32002 and "data" not in early["error"]
    client.open(uri, BROKEN)  # a notification before initialize is dropped
    client.request("initialize", {"processId": None, "rootUri": workspace.as_uri(), "capabilities": {}})
    client.notify("initialized", {})
    client.request("shutdown", None)
    late = client.call("textDocument/hover", {"textDocument": {"uri": uri},
                                              "position": {"line": 0, "character": 0}}, BRIEF)
    assert late["error"]["code"] == -32600
    client.notify("exit", None)
    assert client.process.wait(timeout=PATIENCE) == 0


def test_a_request_with_invalid_params_is_answered(client, workspace):
    """A negative line (not a uinteger) is InvalidParams: pygls dropped the request without an answer."""
    uri = (workspace / "demo" / "massage.mtus").as_uri()
    for position in ({"line": -1, "character": 0}, {"line": 0, "character": -3}):
        answer = client.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": position}, BRIEF)
        assert answer["error"]["code"] == -32602
    assert client.call("no/such/method", {}, BRIEF)["error"]["code"] == -32601


def test_requests_on_a_document_not_open_answer_null(client, workspace):
    """Hover, definition and formatting of a file not open (here not even on disk) are null, not a
    FileNotFoundError with its traceback; a change to it is ignored, without an error shown."""
    uri = (workspace / "demo" / "nowhere.mtus").as_uri()
    position = {"line": 0, "character": 0}
    assert client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": position}) is None
    assert client.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": position}) is None
    assert _formatted(client, uri) is None
    _change(client, uri, 2, {"text": "fact x: boolean = true\n"})
    shown = client.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": position})
    assert shown["result"] is None
    while not client.messages.empty():
        assert client.messages.get().get("method") != "window/showMessage"


def _program(workspace: Path, name: str, files: dict[str, str]) -> Path:
    """A program of its own: a directory directly under the workspace (which holds no .mtus file)."""
    folder = workspace / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def test_positions_are_utf16_code_units_after_astral_characters_and_a_bom(client, workspace):
    """An emoji takes two UTF-16 code units: a diagnostic after one on its line starts two units
    further than its code point; a BOM the editor keeps is one unit before line 1 (mtus check drops
    it: the file is not an E003). Hover finds the word under a UTF-16 cursor."""
    from mtus_dsl.compiler import compile_paths

    text = '\ufeffinput a: boolean "\U0001f600\U0001f600" flaringg\n'
    folder = _program(workspace, "astral", {"astral.mtus": text})
    uri = (folder / "astral.mtus").as_uri()
    client.open(uri, text)
    found = client.diagnostics(uri)
    expected = [d for d in compile_paths([folder], use_cache=False).diagnostics]
    assert [d["code"] for d in found] == [d.code for d in expected] == ["E001"]
    span = expected[0].span
    assert span is not None and (span.line, span.column) == (1, 23)  # code points, after the BOM
    assert found[0]["range"] == {"start": {"line": 0, "character": 25}, "end": {"line": 0, "character": 33}}
    # Hovering over `demo` after five emoji: its UTF-16 column is five more than its code point's.
    (folder / "demo.mtus").write_text(GUIDELINE)
    section = "\ufeff" + SECTION.replace('"Massage"', '"' + "\U0001f600" * 5 + ' Massage"')
    _change(client, uri, 2, {"text": section})
    assert client.diagnostics(uri) == []
    first = section.split("\n")[0]
    units = len(first[:first.index(" demo ") + 1].encode("utf-16-le")) // 2
    assert "guideline demo" in (_hover(client, uri, 0, units) or "")
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_incremental_edits_are_placed_as_lsp_says(client, workspace):
    """Ranges count UTF-16 units; a character past a line's end is its end (pygls put the text before
    the line's last character), a line past the last the text's end; \\r\\n ends a line, a form feed
    or U+2028 in a comment does not (pygls split lines there too, and edited the wrong line)."""
    folder = _program(workspace, "edits", {"edits.mtus": ""})
    uri = (folder / "edits.mtus").as_uri()
    client.open(uri, 'input a: boolean "a"')
    client.diagnostics(uri)
    _change(client, uri, 2, _edit((0, 500), (0, 500), '\ninput b: boolean "\U0001f600 b"'))
    assert client.diagnostics(uri) == []
    # Replace the `b` after the emoji: the emoji is two units, so `b` is at 21 (19 in code points).
    _change(client, uri, 3, _edit((1, 21), (1, 22), "c"), _edit((9, 0), (9, 9), "\n"))
    assert client.diagnostics(uri) == []
    assert _formatted(client, uri) == []  # already canonical: the text is exactly what it should be
    assert _hover(client, uri, 1, 22) is None  # inside the string: "c" is no name
    _change(client, uri, 4, {"text": '# x\u2028y\x0cz\r\ninput a: boolean "a"\r\n'})
    client.diagnostics(uri)
    _change(client, uri, 5, _edit((1, 6), (1, 7), "q"), _edit((1, 99), (2, 0), "\r\n"))
    assert client.diagnostics(uri) == []
    edits = _formatted(client, uri)
    assert [edit["newText"] for edit in edits] == ['# x\u2028y\x0cz\ninput q: boolean "a"\n']
    assert edits[0]["range"]["end"] == {"line": 2, "character": 0}  # the end of the text, not past it
    assert "input q" in (_hover(client, uri, 1, 6) or "")


def test_a_lone_carriage_return_ends_a_line_for_edits_hover_and_diagnostics(client, workspace):
    """LSP and the compiler end a line at a lone \\r too: an edit on the line after one lands there, hover finds the
    name, and a mistake there is reported on that line (the server once counted \\n alone)."""
    folder = _program(workspace, "lone_cr", {"lone_cr.mtus": ""})
    uri = (folder / "lone_cr.mtus").as_uri()
    client.open(uri, '# a note\rinput a: boolean "a"\rfact f: boolean = a\n')
    assert client.diagnostics(uri) == []
    assert "input a" in (_hover(client, uri, 2, 18) or "")
    _change(client, uri, 2, _edit((2, 18), (2, 19), "b"))
    [problem] = client.diagnostics(uri)
    assert problem["range"]["start"] == {"line": 2, "character": 18} and "'b'" in problem["message"]


def test_hover_in_a_comment_or_a_string_shows_nothing(client, workspace):
    """A name written in a comment or inside a string is not the name: no hover, no definition."""
    text = 'input flag: boolean "the flag is set"  # flag\nfact f: boolean = flag\n'
    folder = _program(workspace, "quoted", {"quoted.mtus": text})
    uri = (folder / "quoted.mtus").as_uri()
    client.open(uri, text)
    assert client.diagnostics(uri) == []
    assert _hover(client, uri, 0, 26) is None and _hover(client, uri, 0, 43) is None
    assert "input flag" in (_hover(client, uri, 1, 19) or "")


def test_each_program_keeps_its_own_names(client, workspace):
    """Hover in one program after another was compiled still finds the first program's names (the
    server kept only the names of the program compiled last)."""
    first = _program(workspace, "first", {"one.mtus": 'input only_here: boolean "here"\n'})
    second = _program(workspace, "second", {"two.mtus": 'input only_there: boolean "there"\n'})
    client.open((first / "one.mtus").as_uri(), (first / "one.mtus").read_text())
    client.diagnostics((first / "one.mtus").as_uri())
    client.open((second / "two.mtus").as_uri(), (second / "two.mtus").read_text())
    client.diagnostics((second / "two.mtus").as_uri())
    assert "input only_here" in (_hover(client, (first / "one.mtus").as_uri(), 0, 8) or "")
    labels = {item["label"] for item in client.request("textDocument/completion", {
        "textDocument": {"uri": (second / "two.mtus").as_uri()}, "position": {"line": 0, "character": 0}})["items"]}
    assert "only_there" in labels and "only_here" not in labels


def test_a_file_not_utf8_on_disk_is_e000_as_mtus_check_says(client, workspace):
    """A Latin-1 file in the program is E000 at its first bad byte, and nothing is compiled, as in
    `mtus check` (the server left the file out without a word, and compiled the rest)."""
    from mtus_dsl.compiler import compile_paths

    folder = _program(workspace, "latin", {"good.mtus": "fact g: boolean = zz\n"})
    (folder / "bad.mtus").write_bytes("# caf\xe9\nfact zz: boolean = true\n".encode("latin-1"))
    expected = compile_paths([folder], use_cache=False).diagnostics
    client.open((folder / "good.mtus").as_uri(), (folder / "good.mtus").read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    while len(found) < 2:
        message = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                              and m["params"]["uri"].startswith(folder.as_uri()))
        found[message["params"]["uri"]] = message["params"]["diagnostics"]
    assert [d.code for d in expected] == ["E000"]
    assert found[(folder / "good.mtus").as_uri()] == []
    bad = found[(folder / "bad.mtus").as_uri()]
    assert [d["code"] for d in bad] == ["E000"] and "not valid UTF-8: byte 0xe9" in bad[0]["message"]
    assert bad[0]["range"]["start"] == {"line": 0, "character": 5}


def test_closing_a_document_withdraws_its_unsaved_diagnostics(client, workspace):
    """Closed without saving, an editor's broken text is gone: so are its diagnostics."""
    folder = _program(workspace, "closing", {"closing.mtus": 'input a: boolean "a"\n'})
    uri = (folder / "closing.mtus").as_uri()
    client.open(uri, 'input a: boolean "a" oops\n')
    assert [d["code"] for d in client.diagnostics(uri)] == ["E001"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []
