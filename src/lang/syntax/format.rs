//! The canonical layout of rules text, for `monbridge fmt`.
//!
//! The AST drops comments, so the formatter walks pest's pairs instead and reads what lies
//! between them (white space, comments, the punctuation the grammar keeps silent) straight
//! from the source. Strings, numbers, paths and OIDs are copied byte for byte; only the space
//! between tokens changes.
//!
//! Style: 4 spaces per block level; one statement per line; single spaces around binary
//! operators; `=` (and the names of objects, and the OIDs after `oid`/`base`) aligned in a run
//! of consecutive statements of one kind (a blank line or another statement ends the run, a
//! comment line does not); one blank line between items; blank lines inside blocks kept (at
//! most one); comments stay on their line. A comment inside a statement, where a line break
//! cannot go, moves to its own line just above the statement.

use pest::Parser;
use pest::iterators::Pair;

use super::{Rule, RulesParser, is_operator};

/// The text in canonical layout, or `None` if it does not parse.
pub(super) fn format(text: &str) -> Option<String> {
    // A byte-order mark is kept as it was: editors that wrote it expect it back.
    let bom = if text.starts_with('\u{feff}') {
        "\u{feff}"
    } else {
        ""
    };
    let body = &text[bom.len()..];
    let file = RulesParser::parse(Rule::file, body).ok()?.next()?;
    let mut formatter = Formatter {
        src: body,
        pos: 0,
        hoisted: Vec::new(),
        blank_before_next: false,
        ok: true,
    };
    let items: Vec<Pair<'_, Rule>> = file
        .into_inner()
        .filter(|pair| pair.as_rule() != Rule::EOI)
        .collect();
    let (_, entries) = formatter.body(items);
    if !formatter.ok || formatter.pos != body.len() {
        return None;
    }
    let mut out = String::from(bom);
    render(&entries, 0, true, &mut out);
    Some(out)
}

/// One line (or block) of output, before alignment.
enum Entry {
    Blank,
    Comment(String),
    Line(Line),
    Block(Block),
}

struct Line {
    /// Comments found inside the statement, written on their own lines above it.
    leading: Vec<String>,
    /// What kind of statement, for alignment runs; 0: not aligned.
    class: u8,
    /// Columns padded to the widest of the run.
    cols: Vec<String>,
    rest: String,
    comment: Option<String>,
}

struct Block {
    leading: Vec<String>,
    header: String,
    header_comment: Option<String>,
    body: Vec<Entry>,
    close_comment: Option<String>,
}

const FIELD: u8 = 1;
const OBJECT: u8 = 2;
const OID_BASE: u8 = 3;

struct Comment {
    text: String,
    own_line: bool,
    blank_before: bool,
}

struct Formatter<'a> {
    src: &'a str,
    pos: usize,
    hoisted: Vec<String>,
    blank_before_next: bool,
    /// False once the source did not hold what the pairs said: the caller gives up.
    ok: bool,
}

impl<'a> Formatter<'a> {
    /// Consumes white space and comments at the cursor.
    fn trivia(&mut self) -> Vec<Comment> {
        let bytes = self.src.as_bytes();
        let mut comments = Vec::new();
        let mut newlines = 0;
        let at_start = self.pos == 0;
        while let Some(&byte) = bytes.get(self.pos) {
            match byte {
                b'\n' => {
                    newlines += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => {
                    let end = self.src[self.pos..]
                        .find('\n')
                        .map_or(self.src.len(), |n| self.pos + n);
                    comments.push(Comment {
                        text: self.src[self.pos..end].trim_end().to_owned(),
                        own_line: newlines > 0 || (at_start && comments.is_empty()),
                        blank_before: newlines > 1,
                    });
                    newlines = 0;
                    self.pos = end;
                }
                _ => break,
            }
        }
        self.blank_before_next = newlines > 1;
        comments
    }

    /// Comments inside a statement cannot stay where they are: they go above it.
    fn hoist_trivia(&mut self) {
        let comments = self.trivia();
        self.hoisted.extend(comments.into_iter().map(|c| c.text));
    }

    fn leaf(&mut self, pair: &Pair<'a, Rule>) -> &'a str {
        self.hoist_trivia();
        let span = pair.as_span();
        if span.start() != self.pos {
            self.ok = false;
        }
        self.pos = span.end();
        &self.src[span.start()..span.end()]
    }

    fn punct(&mut self, ch: u8) {
        self.hoist_trivia();
        if self.src.as_bytes().get(self.pos) == Some(&ch) {
            self.pos += 1;
        } else {
            self.ok = false;
        }
    }

    /// An optional trailing comma of a list or call: dropped.
    fn trailing_comma(&mut self) {
        self.hoist_trivia();
        if self.src.as_bytes().get(self.pos) == Some(&b',') {
            self.pos += 1;
        }
    }

    /// The statements of a block (or the items of the file) and the comments between them;
    /// also the comment on the line of the opening `{`.
    fn body(&mut self, statements: Vec<Pair<'a, Rule>>) -> (Option<String>, Vec<Entry>) {
        let mut entries = Vec::new();
        let mut first_comment = None;
        for statement in statements {
            self.gap(&mut entries, &mut first_comment);
            let entry = self.statement(statement);
            entries.push(entry);
        }
        self.gap(&mut entries, &mut first_comment);
        while matches!(entries.last(), Some(Entry::Blank)) {
            entries.pop();
        }
        (first_comment, entries)
    }

    fn gap(&mut self, entries: &mut Vec<Entry>, first_comment: &mut Option<String>) {
        for comment in self.trivia() {
            if !comment.own_line {
                match entries.last_mut() {
                    Some(Entry::Line(line)) => line.comment = Some(comment.text),
                    Some(Entry::Block(block)) => block.close_comment = Some(comment.text),
                    _ => *first_comment = Some(comment.text),
                }
                continue;
            }
            if comment.blank_before && !entries.is_empty() {
                entries.push(Entry::Blank);
            }
            entries.push(Entry::Comment(comment.text));
        }
        if self.blank_before_next && !entries.is_empty() {
            entries.push(Entry::Blank);
        }
    }

    fn statement(&mut self, pair: Pair<'a, Rule>) -> Entry {
        let rule = pair.as_rule();
        let line = |f: &mut Self, class, cols, rest| {
            Entry::Line(Line {
                leading: std::mem::take(&mut f.hoisted),
                class,
                cols,
                rest,
                comment: None,
            })
        };
        match rule {
            Rule::field => {
                let mut name = String::new();
                let mut value = String::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::expr => {
                            self.punct(b'=');
                            value = self.expr(part);
                        }
                        _ => name = self.leaf(&part).to_owned(),
                    }
                }
                line(self, FIELD, vec![name], format!("= {value}"))
            }
            Rule::object_def => {
                let mut index = String::new();
                let mut name = String::new();
                // `oid OID` and `: TYPE`, a column of their own between the name and `=`.
                let mut extra = Vec::new();
                let mut value = String::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::object_index => index = self.leaf(&part).to_owned(),
                        Rule::expr => {
                            self.punct(b'=');
                            value = self.expr(part);
                        }
                        // The second identifier is the type, after `:`.
                        Rule::ident if !name.is_empty() => {
                            self.punct(b':');
                            extra.push(":".to_owned());
                            extra.push(self.leaf(&part).to_owned());
                        }
                        Rule::ident => name = self.leaf(&part).to_owned(),
                        _ => extra.push(self.leaf(&part).to_owned()),
                    }
                }
                let cols = vec![index, name, extra.join(" ")];
                line(self, OBJECT, cols, format!("= {value}"))
            }
            Rule::trap_oid | Rule::trap_base => {
                let mut parts = pair.into_inner();
                let keyword = parts.next().map(|p| self.leaf(&p).to_owned());
                let oid = parts.next().map(|p| self.leaf(&p).to_owned());
                line(
                    self,
                    OID_BASE,
                    vec![keyword.unwrap_or_default()],
                    oid.unwrap_or_default(),
                )
            }
            Rule::use_stmt => {
                let words: Vec<String> = pair
                    .into_inner()
                    .map(|p| self.leaf(&p).to_owned())
                    .collect();
                line(self, 0, Vec::new(), words.join(" "))
            }
            _ => self.block(pair),
        }
    }

    /// An item, a `module` or a `for`: a header, `{`, statements, `}`.
    fn block(&mut self, pair: Pair<'a, Rule>) -> Entry {
        let mut header = Vec::new();
        let mut statements = Vec::new();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::expr => header.push(self.expr(part)),
                Rule::where_clause => {
                    for inner in part.into_inner() {
                        let text = match inner.as_rule() {
                            Rule::expr => self.expr(inner),
                            _ => self.leaf(&inner).to_owned(),
                        };
                        header.push(text);
                    }
                }
                Rule::field
                | Rule::module_def
                | Rule::for_loop
                | Rule::object_def
                | Rule::trap_oid
                | Rule::trap_base
                | Rule::use_stmt => statements.push(part),
                _ => header.push(self.leaf(&part).to_owned()),
            }
        }
        self.punct(b'{');
        let leading = std::mem::take(&mut self.hoisted);
        let (header_comment, body) = self.body(statements);
        self.punct(b'}');
        Entry::Block(Block {
            leading,
            header: header.join(" "),
            header_comment,
            body,
            close_comment: None,
        })
    }

    fn expr(&mut self, pair: Pair<'a, Rule>) -> String {
        let mut out = String::new();
        for part in pair.into_inner() {
            let rule = part.as_rule();
            if rule == Rule::op_not {
                out.push_str(self.leaf(&part));
                out.push(' ');
            } else if is_operator(rule) {
                out.push(' ');
                out.push_str(self.leaf(&part));
                out.push(' ');
            } else {
                let primary = self.primary(part);
                out.push_str(&primary);
            }
        }
        out
    }

    fn primary(&mut self, pair: Pair<'a, Rule>) -> String {
        match pair.as_rule() {
            Rule::expr => {
                self.punct(b'(');
                let inner = self.expr(pair);
                self.punct(b')');
                format!("({inner})")
            }
            Rule::list => {
                self.punct(b'[');
                let items = self.arguments(pair.into_inner());
                self.punct(b']');
                format!("[{items}]")
            }
            Rule::call => {
                let mut parts = pair.into_inner();
                let name = parts
                    .next()
                    .map(|p| self.leaf(&p).to_owned())
                    .unwrap_or_default();
                self.punct(b'(');
                let arguments = self.arguments(parts);
                self.punct(b')');
                format!("{name}({arguments})")
            }
            _ => self.leaf(&pair).to_owned(),
        }
    }

    fn arguments(&mut self, exprs: pest::iterators::Pairs<'a, Rule>) -> String {
        let mut texts = Vec::new();
        for expr in exprs {
            if !texts.is_empty() {
                self.punct(b',');
            }
            texts.push(self.expr(expr));
        }
        if !texts.is_empty() {
            self.trailing_comma();
        }
        texts.join(", ")
    }
}

fn render(entries: &[Entry], depth: usize, top: bool, out: &mut String) {
    let indent = "    ".repeat(depth);
    let widths = column_widths(entries);
    let mut after_block = false;
    for (entry, widths) in entries.iter().zip(&widths) {
        // One blank line between items, whatever the source had.
        if top && after_block && !matches!(entry, Entry::Blank) {
            out.push('\n');
        }
        after_block = matches!(entry, Entry::Block(_));
        match entry {
            Entry::Blank => out.push('\n'),
            Entry::Comment(text) => push_line(out, &indent, text, None),
            Entry::Line(line) => {
                for comment in &line.leading {
                    push_line(out, &indent, comment, None);
                }
                let mut text = String::new();
                for (col, width) in line.cols.iter().zip(widths) {
                    // A column no line of the run uses takes no room.
                    if *width == 0 {
                        continue;
                    }
                    text.push_str(&format!("{col:<width$} "));
                }
                text.push_str(&line.rest);
                push_line(out, &indent, &text, line.comment.as_deref());
            }
            Entry::Block(block) => {
                for comment in &block.leading {
                    push_line(out, &indent, comment, None);
                }
                if block.body.is_empty() && block.header_comment.is_none() {
                    let text = format!("{} {{}}", block.header);
                    push_line(out, &indent, &text, block.close_comment.as_deref());
                    continue;
                }
                let open = format!("{} {{", block.header);
                push_line(out, &indent, &open, block.header_comment.as_deref());
                render(&block.body, depth + 1, false, out);
                push_line(out, &indent, "}", block.close_comment.as_deref());
            }
        }
    }
}

fn push_line(out: &mut String, indent: &str, text: &str, comment: Option<&str>) {
    out.push_str(indent);
    out.push_str(text);
    if let Some(comment) = comment {
        out.push(' ');
        out.push_str(comment);
    }
    out.push('\n');
}

/// For every entry, the widths of its columns: the widest of its alignment run.
fn column_widths(entries: &[Entry]) -> Vec<Vec<usize>> {
    let mut widths = vec![Vec::new(); entries.len()];
    let mut start = 0;
    while start < entries.len() {
        let Entry::Line(first) = &entries[start] else {
            start += 1;
            continue;
        };
        if first.class == 0 {
            start += 1;
            continue;
        }
        // The run: lines of the same class, with comment lines between them.
        let mut members = vec![start];
        let mut next = start + 1;
        while let Some(entry) = entries.get(next) {
            match entry {
                Entry::Comment(_) => {}
                Entry::Line(line) if line.class == first.class => members.push(next),
                _ => break,
            }
            next += 1;
        }
        let mut run_widths = vec![0; first.cols.len()];
        for &member in &members {
            if let Entry::Line(line) = &entries[member] {
                for (width, col) in run_widths.iter_mut().zip(&line.cols) {
                    *width = (*width).max(col.chars().count());
                }
            }
        }
        for member in members {
            widths[member] = run_widths.clone();
        }
        start = next;
    }
    widths
}
