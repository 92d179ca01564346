//! `monbridge lsp` driven over stdio as an editor drives it: Content-Length framed JSON-RPC,
//! diagnostics pushed on open and change, completion, hover, definition, formatting, and the
//! exit status LSP asks for.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;

const WAIT: Duration = Duration::from_secs(10);

struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    incoming: Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start() -> Client {
        let mut child = Command::new(common::bin("monbridge"))
            .args(["lsp", "--stdio"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start monbridge lsp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = n.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("JSON body");
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            incoming,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        stdin.flush().expect("flush");
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its result, skipping notifications meanwhile.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let message = self.wait_for(|m| m["id"] == id);
        assert!(message.get("error").is_none(), "{method}: {message}");
        message["result"].clone()
    }

    fn wait_for(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self
                .incoming
                .recv_timeout(left)
                .expect("the server answered in time");
            if wanted(&message) {
                return message;
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&self, uri: &str) -> Vec<Value> {
        let message = self.wait_for(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        message["params"]["diagnostics"]
            .as_array()
            .expect("a list")
            .clone()
    }

    fn initialize(&mut self, root: &Path) -> Value {
        let result = self.request(
            "initialize",
            json!({"processId": null, "rootUri": uri(root), "capabilities": {}}),
        );
        self.notify("initialized", json!({}));
        result
    }

    fn open(&mut self, path: &Path, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(path), "languageId": "monbridge-rules", "version": 1, "text": text}}),
        );
    }

    /// Waits for the server to end and returns its exit status.
    fn exit_status(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().expect("an exit code");
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("monbridge lsp did not exit within 5 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

const COMMON: &str = "# Objects every notification carries → reused with `use`.\nobjects common {\n    1 nameGateway = \"gw\"\n}\n";

const TYPO: &str = "# STLNK → one trap.\ntrap stateLink when audit.source == \"STLNK\" {\n    oid  1.3.6.1.4.1.39059.1.0.1\n    base 1.3.6.1.4.1.39059.1.1.1.1\n    use common\n    2 nameService = audti.detail.nameService\n    3 level : integer = count(audit.detail.items)\n}\n";

#[test]
fn an_editor_session_from_initialize_to_exit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path();
    std::fs::write(folder.join("common.rules"), COMMON).expect("write");
    std::fs::create_dir(folder.join("tests")).expect("tests dir");
    std::fs::write(
        folder.join("tests/case.json"),
        r#"{"kind": "trap", "input": [{"source": "STLNK", "detail": {"nameService": "s", "nameLink": "l"}}]}"#,
    )
    .expect("write case");
    let path = folder.join("traps.rules");
    let doc = uri(&path);
    let mut client = Client::start();

    let init = client.initialize(folder);
    let caps = &init["capabilities"];
    assert_eq!(caps["textDocumentSync"], 1, "{caps}");
    assert_eq!(
        caps["completionProvider"]["triggerCharacters"],
        json!(["."])
    );
    assert_eq!(caps["hoverProvider"], true);
    assert_eq!(caps["definitionProvider"], true);
    assert_eq!(caps["documentFormattingProvider"], true);

    // The typo is reported on its line (zero-based 5), covering `audti`, after a line with `→`.
    client.open(&path, TYPO);
    let found = client.diagnostics(&doc);
    let e0201 = found
        .iter()
        .find(|d| d["code"] == "E0201")
        .unwrap_or_else(|| panic!("E0201 in {found:?}"));
    assert_eq!(e0201["source"], "monbridge");
    assert_eq!(e0201["severity"], 1);
    assert_eq!(
        e0201["range"],
        json!({"start": {"line": 5, "character": 20}, "end": {"line": 5, "character": 25}})
    );
    assert!(
        e0201["message"].as_str().unwrap_or("").contains("audit"),
        "{e0201}"
    );
    // `use common` resolved through the other file of the folder: no E0208.
    assert!(found.iter().all(|d| d["code"] != "E0208"), "{found:?}");

    let fixed = TYPO.replace("audti", "audit");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(client.diagnostics(&doc), Vec::<Value>::new());

    // Completion on an incomplete line.
    let typing = format!("{fixed}    4 x = audit.");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 3}, "contentChanges": [{"text": typing}]}),
    );
    let last_line = typing.lines().count() as u32 - 1;
    let items = client.request(
        "textDocument/completion",
        at(&doc, last_line, "    4 x = audit.".len() as u32),
    );
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list of items")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert_eq!(labels, ["source", "severity", "detail", "timestamp"]);
    let typing = format!("{fixed}    4 x = audit.detail.");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 4}, "contentChanges": [{"text": typing}]}),
    );
    let items = client.request(
        "textDocument/completion",
        at(&doc, last_line, "    4 x = audit.detail.".len() as u32),
    );
    let labels: Vec<&str> = items
        .as_array()
        .expect("a list of items")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert_eq!(labels, ["nameLink", "nameService"]);
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 5}, "contentChanges": [{"text": fixed}]}),
    );

    // Hover on `count(`.
    let hover = client.request("textDocument/hover", at(&doc, 6, 26));
    assert_eq!(hover["contents"]["kind"], "markdown");
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("count(list"),
        "{hover}"
    );

    // Definition from `use common` to the other file.
    let target = client.request("textDocument/definition", at(&doc, 4, 9));
    assert_eq!(target["uri"], uri(&folder.join("common.rules")));
    assert_eq!(
        target["range"],
        json!({"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 14}})
    );

    // Formatting gives what `monbridge fmt` prints.
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": doc}, "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    let edits = edits.as_array().expect("a list of edits");
    assert_eq!(edits.len(), 1, "{edits:?}");
    let expected = monbridge::lang::syntax::format_file(0, &fixed).expect("formats");
    assert_ne!(expected, fixed, "the case is not formatted yet");
    assert_eq!(edits[0]["newText"], expected);
    assert_eq!(
        edits[0]["range"]["start"],
        json!({"line": 0, "character": 0})
    );

    // Closing a file with errors clears what the editor shows for it.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 6}, "contentChanges": [{"text": TYPO}]}),
    );
    assert!(!client.diagnostics(&doc).is_empty());
    client.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": doc}}),
    );
    assert_eq!(client.diagnostics(&doc), Vec::<Value>::new());

    let result = client.request("shutdown", Value::Null);
    assert_eq!(result, Value::Null);
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_status(), 0);
}

#[test]
fn exit_without_shutdown_is_status_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut client = Client::start();
    client.initialize(dir.path());
    client.notify("exit", Value::Null);
    assert_eq!(client.exit_status(), 1);
}

#[test]
fn the_server_ends_when_stdin_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut client = Client::start();
    client.initialize(dir.path());
    // The client vanished without `shutdown`: an unclean end, status 1.
    assert_eq!(client.exit_status(), 1);
}

/// Neovim's own LSP client (0.7 and later, as Debian ships it) opens a rules file, starts
/// `monbridge lsp`, and writes the diagnostics it shows: `CODE line col end_col`, zero-based.
const NVIM_INIT: &str = r#"
local buf_name, out = os.getenv("RULES_FILE"), os.getenv("NVIM_OUT")
vim.cmd("edit " .. vim.fn.fnameescape(buf_name))
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({
  name = "monbridge",
  cmd = { os.getenv("MONBRIDGE_BIN"), "lsp" },
  root_dir = vim.fn.fnamemodify(buf_name, ":h"),
})
vim.lsp.buf_attach_client(buf, client)
local lines = {}
if not vim.wait(8000, function() return #vim.diagnostic.get(buf) > 0 end, 50) then
  table.insert(lines, "no diagnostics")
end
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(lines, string.format("%s %d %d %d", d.code, d.lnum, d.col, d.end_col))
end
vim.fn.writefile(lines, out)
vim.cmd("qa!")
"#;

#[test]
fn neovim_shows_the_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("gateway.rules");
    std::fs::write(
        &rules,
        "# Gateway name → object 1.\nobjects common {\n    1 nameGateway = audti.source\n}\n",
    )
    .expect("write rules");
    let init = dir.path().join("init.lua");
    std::fs::write(&init, NVIM_INIT).expect("write init.lua");
    let out = dir.path().join("diagnostics.txt");
    let mut nvim = common::peers::spawn(
        Command::new("nvim")
            .args(["--headless", "--clean", "-i", "NONE", "-u"])
            .arg(&init)
            .env("MONBRIDGE_BIN", common::bin("monbridge"))
            .env("RULES_FILE", &rules)
            .env("NVIM_OUT", &out)
            .env("XDG_STATE_HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CACHE_HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = nvim.try_wait().expect("wait for nvim") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = nvim.kill();
            panic!("nvim did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "nvim: {status}");
    let shown = std::fs::read_to_string(&out).expect("nvim wrote the diagnostics");
    assert_eq!(shown.trim(), "E0201 2 20 25");
}

/// The TextMate grammar editors colour rules files with names what the language has: every
/// function, SNMP type and root, and the item keywords.
#[test]
fn the_textmate_grammar_knows_the_language() {
    let path =
        crate::common::repo_root().join("integrations/editors/monbridge-rules.tmLanguage.json");
    let grammar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("grammar")).expect("JSON grammar");
    assert_eq!(grammar["scopeName"], "source.monbridge-rules");
    let text = grammar.to_string();
    let named = |word: &str| {
        text.contains(&format!("({word}|"))
            || text.contains(&format!("|{word}|"))
            || text.contains(&format!("|{word})"))
    };
    for (_, name, _, _) in monbridge::lang::program::Builtin::ALL {
        assert!(named(name), "function {name}");
    }
    for (_, name) in monbridge::record::SnmpType::ALL {
        assert!(named(name), "SNMP type {name}");
    }
    for word in [
        "agent", "trap", "objects", "for", "where", "when", "module", "use", "base",
    ] {
        assert!(named(word), "keyword {word}");
    }
    for root in ["audit", "mist", "env", "param"] {
        assert!(named(root), "root {root}");
    }
}
