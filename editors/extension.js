// The VS Code side of mtus-dsl: the TextMate grammar (package.json) and `mtus lsp` as the language server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("mtus").get("server.command", ["mtus", "lsp"]);
  client = new LanguageClient(
    "mtus",
    "MTUS language server",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "mtus" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
