// Starts `netdsl lsp` (stdio) for .net files. The command comes from the `netdsl.command` setting.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("netdsl").get("command", ["netdsl", "lsp"]);
  const server = { command, args };
  client = new LanguageClient(
    "netdsl",
    "netdsl language server",
    { run: server, debug: server },
    { documentSelector: [{ language: "netdsl" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
