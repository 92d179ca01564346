//! `monbridge lsp`: the rules language in the operator's editor, over LSP 3.17 on stdio.
//!
//! One thread, one message at a time: the work per message (checking one folder of rules) is
//! small. Every open document is checked with the other `*.rules` files of its folder, open
//! buffers winning over the disk, through the same [`RuleSet::from_sources`] as `check`.
//!
//! [`RuleSet::from_sources`]: crate::lang::RuleSet::from_sources

mod assist;
mod diagnostics;
mod sample_values;
mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{Completion, Formatting, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionOptions, CompletionParams, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DocumentFormattingParams, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverContents, HoverParams, HoverProviderCapability, Location,
    MarkupContent, MarkupKind, OneOf, PublishDiagnosticsParams, ServerCapabilities,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};

/// Why the server stopped short of a clean shutdown.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    #[error("LSP protocol error: {0}")]
    Protocol(#[from] lsp_server::ProtocolError),
    #[error("LSP I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("LSP message could not be encoded: {0}")]
    Json(#[from] serde_json::Error),
}

/// How the session ended: after `shutdown` (exit status 0) or without it (1, as LSP asks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    ShutDown,
    NoShutdown,
}

/// Serves one client on stdin/stdout until it exits or stdin closes.
pub fn run() -> Result<Ending, LspError> {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = serde_json::to_value(capabilities())?;
    let _init = connection.initialize(capabilities)?;
    tracing::info!("lsp: initialized");
    let ending = Server::default().serve(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(ending)
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".to_owned()]),
            ..CompletionOptions::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

struct Document {
    uri: Uri,
    text: String,
}

#[derive(Default)]
struct Server {
    /// Open buffers by local path.
    open: BTreeMap<PathBuf, Document>,
    /// Files last published with diagnostics, so they get an empty list once fixed.
    flagged: BTreeSet<PathBuf>,
}

/// A request the server could not answer, as the client is told.
struct Refusal(ErrorCode, String);

impl Server {
    fn serve(&mut self, connection: &Connection) -> Result<Ending, LspError> {
        for message in &connection.receiver {
            match message {
                Message::Request(request) => {
                    if connection.handle_shutdown(&request)? {
                        return Ok(Ending::ShutDown);
                    }
                    let id = request.id.clone();
                    let response = match self.answer(request) {
                        Ok(result) => Response::new_ok(id, result),
                        Err(Refusal(code, message)) => Response::new_err(id, code as i32, message),
                    };
                    send(connection, response.into())?;
                }
                Message::Notification(notification) => {
                    if notification.method == "exit" {
                        return Ok(Ending::NoShutdown);
                    }
                    self.notified(connection, notification)?;
                }
                Message::Response(_) => {}
            }
        }
        // Stdin closed without `shutdown`.
        Ok(Ending::NoShutdown)
    }

    fn answer(&self, request: Request) -> Result<serde_json::Value, Refusal> {
        let method = request.method.clone();
        let json = |value: Result<serde_json::Value, serde_json::Error>| {
            value.map_err(|e| Refusal(ErrorCode::InternalError, e.to_string()))
        };
        match method.as_str() {
            Completion::METHOD => {
                let params: CompletionParams = extract(request)?;
                json(serde_json::to_value(self.completion(&params)))
            }
            HoverRequest::METHOD => {
                let params: HoverParams = extract(request)?;
                json(serde_json::to_value(self.hover(&params)))
            }
            GotoDefinition::METHOD => {
                let params: GotoDefinitionParams = extract(request)?;
                json(serde_json::to_value(self.definition(&params)))
            }
            Formatting::METHOD => {
                let params: DocumentFormattingParams = extract(request)?;
                json(serde_json::to_value(self.formatting(&params)))
            }
            _ => Err(Refusal(
                ErrorCode::MethodNotFound,
                format!("unsupported request {method}"),
            )),
        }
    }

    fn notified(
        &mut self,
        connection: &Connection,
        notification: Notification,
    ) -> Result<(), LspError> {
        let changed = match notification.method.as_str() {
            DidOpenTextDocument::METHOD => notification
                .extract::<DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                .ok()
                .map(|p| (p.text_document.uri, p.text_document.text)),
            DidChangeTextDocument::METHOD => notification
                .extract::<DidChangeTextDocumentParams>(DidChangeTextDocument::METHOD)
                .ok()
                // Full sync: the last change holds the whole text.
                .and_then(|mut p| Some((p.text_document.uri, p.content_changes.pop()?.text))),
            DidCloseTextDocument::METHOD => {
                if let Ok(p) =
                    notification.extract::<DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                    && let Some(path) = text::uri_to_path(&p.text_document.uri)
                {
                    // The editor no longer shows the file: its diagnostics go with it.
                    self.open.remove(&path);
                    self.flagged.remove(&path);
                    let params =
                        PublishDiagnosticsParams::new(p.text_document.uri, Vec::new(), None);
                    let cleared = Notification::new(PublishDiagnostics::METHOD.to_owned(), params);
                    send(connection, cleared.into())?;
                }
                None
            }
            _ => None,
        };
        let Some((uri, new_text)) = changed else {
            return Ok(());
        };
        let Some(path) = text::uri_to_path(&uri) else {
            tracing::warn!("lsp: not a file URI: {}", uri.as_str());
            return Ok(());
        };
        self.open.insert(
            path.clone(),
            Document {
                uri,
                text: new_text,
            },
        );
        self.publish(connection, &path)
    }

    /// Checks the folder of `path` and publishes the diagnostics of its files.
    fn publish(&mut self, connection: &Connection, path: &Path) -> Result<(), LspError> {
        let files = self.folder_of(path);
        for (file, diagnostics) in diagnostics::check_folder(&files) {
            let was_flagged = self.flagged.contains(&file);
            if diagnostics.is_empty() && !was_flagged && file != path {
                continue;
            }
            let uri = match self.open.get(&file) {
                Some(document) => Some(document.uri.clone()),
                None => text::path_to_uri(&file),
            };
            let Some(uri) = uri else { continue };
            if diagnostics.is_empty() {
                self.flagged.remove(&file);
            } else {
                self.flagged.insert(file.clone());
            }
            let params = PublishDiagnosticsParams::new(uri, diagnostics, None);
            let notification = Notification::new(PublishDiagnostics::METHOD.to_owned(), params);
            send(connection, notification.into())?;
        }
        Ok(())
    }

    /// The `*.rules` files of the folder of `path`, open buffers in place of the disk.
    fn folder_of(&self, path: &Path) -> Vec<(PathBuf, String)> {
        let folder = path.parent().unwrap_or(Path::new("/"));
        let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(folder) {
            for entry in entries.flatten() {
                let file = entry.path();
                if file.extension().is_some_and(|e| e == "rules")
                    && !self.open.contains_key(&file)
                    && let Ok(content) = std::fs::read_to_string(&file)
                {
                    files.insert(file, content);
                }
            }
        }
        for (file, document) in &self.open {
            if file.parent() == Some(folder) {
                files.insert(file.clone(), document.text.clone());
            }
        }
        files.into_iter().collect()
    }

    fn document(&self, uri: &Uri) -> Option<(PathBuf, &str)> {
        let path = text::uri_to_path(uri)?;
        let document = self.open.get(&path)?;
        Some((path, document.text.as_str()))
    }

    fn completion(&self, params: &CompletionParams) -> Vec<lsp_types::CompletionItem> {
        let at = &params.text_document_position;
        let Some((path, source)) = self.document(&at.text_document.uri) else {
            return Vec::new();
        };
        let offset = text::offset(source, at.position);
        let samples = path
            .parent()
            .map(|folder| samples(&folder.join("tests")))
            .unwrap_or_default();
        assist::complete(source, offset, &samples)
    }

    fn hover(&self, params: &HoverParams) -> Option<Hover> {
        let at = &params.text_document_position_params;
        let (path, source) = self.document(&at.text_document.uri)?;
        let offset = text::offset(source, at.position);
        let markdown = assist::hover(source, offset).or_else(|| {
            let tests = path.parent()?.join("tests");
            sample_values::describe(sample_values::path_at(source, offset)?, &tests)
        })?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: None,
        })
    }

    fn definition(&self, params: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
        let at = &params.text_document_position_params;
        let (path, source) = self.document(&at.text_document.uri)?;
        let name = assist::used_name(source, text::offset(source, at.position))?;
        let files = self.folder_of(&path);
        let (file, target, start, end) = assist::find_objects(&files, name)?;
        let uri = match self.open.get(file) {
            Some(document) => document.uri.clone(),
            None => text::path_to_uri(file)?,
        };
        Some(GotoDefinitionResponse::Scalar(Location::new(
            uri,
            text::range(target, start, end),
        )))
    }

    fn formatting(&self, params: &DocumentFormattingParams) -> Option<Vec<TextEdit>> {
        let (_, source) = self.document(&params.text_document.uri)?;
        // A file with syntax errors is left as it is: its diagnostics say why.
        let formatted = crate::lang::syntax::format_file(0, source).ok()?;
        if formatted == source {
            return Some(Vec::new());
        }
        Some(vec![TextEdit::new(text::whole(source), formatted)])
    }
}

fn extract<P: serde::de::DeserializeOwned>(request: Request) -> Result<P, Refusal> {
    serde_json::from_value(request.params)
        .map_err(|e| Refusal(ErrorCode::InvalidParams, e.to_string()))
}

fn send(connection: &Connection, message: Message) -> Result<(), LspError> {
    connection
        .sender
        .send(message)
        .map_err(|e| LspError::Io(std::io::Error::other(e.to_string())))
}

/// The keys golden cases (`tests/*.json` beside the rules) show: of every object under a
/// `detail`, `details` or `log` key, and of the items of every `sites` and `devices` list,
/// at any depth.
fn samples(tests: &Path) -> assist::Samples {
    let mut samples = assist::Samples::default();
    let Ok(entries) = std::fs::read_dir(tests) else {
        return samples;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json")
            && let Ok(content) = std::fs::read_to_string(&path)
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(&content)
        {
            collect_keys(&value, &mut samples);
        }
    }
    samples
}

fn collect_keys(value: &serde_json::Value, samples: &mut assist::Samples) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("detail" | "details" | "log", Value::Object(detail)) => {
                        samples.detail.extend(detail.keys().cloned());
                    }
                    ("sites" | "devices", Value::Array(items)) => {
                        let keys = if key == "sites" {
                            &mut samples.site
                        } else {
                            &mut samples.device
                        };
                        for item in items {
                            if let Value::Object(fields) = item {
                                keys.extend(fields.keys().cloned());
                            }
                        }
                    }
                    _ => {}
                }
                collect_keys(inner, samples);
            }
        }
        Value::Array(items) => {
            for inner in items {
                collect_keys(inner, samples);
            }
        }
        _ => {}
    }
}
