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

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        message = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in message, message
        return message["result"]

    def wait(self, wanted: Any) -> dict[str, Any]:
        """The next message `wanted` accepts (server requests are answered, other messages skipped)."""
        while True:
            message = self.messages.get(timeout=PATIENCE)
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
