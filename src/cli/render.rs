//! `monbridge render` and `monbridge explain`: evaluate rules over input data and print what
//! they produce. Nothing is sent or written.

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::Path;

use serde_json::{Value, json};

use super::{CliError, RenderCommand, params_from, read_input};
use crate::lang::RuleSet;
use crate::lang::{EvalError, Explained, Params};
use crate::pipeline;
use crate::pipeline::audit::Outcome;
use crate::record::{Agent, Oid, Trap};
use crate::sink::pandora;
use crate::source::audit;

pub fn run(command: &RenderCommand, explain: bool) -> Result<u8, CliError> {
    let output = match command {
        RenderCommand::Trap(args) => {
            let rules = args.rules.load()?;
            let options = TrapRender {
                hex: args.hex,
                json: args.json,
                explain,
            };
            return stream_traps(&rules, &args.input, &params_from(&args.params), &options);
        }
        RenderCommand::Mist(args) => {
            let rules = args.rules.load()?;
            let input = read_input(&args.input)?;
            let now = parse_now(args.now.as_deref())?;
            render_mist(
                &rules,
                &input,
                &params_from(&args.params),
                &now,
                args.json,
                explain,
            )
        }
    };
    print!("{}", output.stdout);
    for report in &output.reports {
        eprint!("{report}");
    }
    failed(output.errors.len())
}

fn failed(errors: usize) -> Result<u8, CliError> {
    if errors == 0 {
        Ok(super::EXIT_OK)
    } else {
        Err(CliError::Failed(format!(
            "{errors} input{} could not be rendered",
            if errors == 1 { "" } else { "s" }
        )))
    }
}

/// `render trap` and `explain trap`: the input read as a stream (as `trap send` reads it),
/// each audit's output written as soon as it is made, errors reported as they come.
fn stream_traps(
    rules: &RuleSet,
    path: &Path,
    params: &Params,
    options: &TrapRender,
) -> Result<u8, CliError> {
    let name = || {
        if path == Path::new("-") {
            "standard input".to_owned()
        } else {
            path.display().to_string()
        }
    };
    let input: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| CliError::Data(format!("cannot read {}: {e}", name())))?,
        )
    };
    let mut reader = audit::AuditReader::new(input);
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut out = Rendered::default();
    let mut errors = 0;
    let mut number = 0;
    let written = loop {
        let decoded = match reader.next_audit() {
            Ok(Some(decoded)) => decoded,
            Ok(None) => break stdout.flush(),
            Err(e) => return Err(CliError::Data(format!("cannot read {}: {e}", name()))),
        };
        number += 1;
        let result = render_audit(
            number,
            decoded.result,
            rules,
            params,
            options,
            &mut stdout,
            &mut out,
        );
        if let Err(error) = result {
            break Err(error);
        }
        errors += out.errors.len();
        out.errors.clear();
        for report in out.reports.drain(..) {
            eprint!("{report}");
        }
    };
    match written {
        Ok(()) => failed(errors),
        // A reader that went away (`| head`) wants no more.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => failed(errors),
        Err(error) => Err(CliError::Internal(format!(
            "cannot write the output: {error}"
        ))),
    }
}

/// What a render produced: the text for stdout and the errors for stderr, each both as one
/// line (what `monbridge test` compares) and as shown to a person (rule errors with their
/// source line, as `check` shows load-time ones).
#[derive(Debug, Default)]
pub struct Rendered {
    pub stdout: String,
    pub errors: Vec<String>,
    pub reports: Vec<String>,
    json: JsonLine,
}

impl Rendered {
    fn error(&mut self, line: String) {
        self.reports.push(format!("error: {line}\n"));
        self.errors.push(line);
    }

    fn rule_error(&mut self, rules: &RuleSet, error: &EvalError, context: Option<&str>) {
        match context {
            Some(context) => self.errors.push(format!("{context}: {error}")),
            None => self.errors.push(error.to_string()),
        }
        self.reports.push(rules.render_error(error, context, false));
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TrapRender {
    pub hex: bool,
    pub json: bool,
    pub explain: bool,
}

/// `--now` as a zoned time: RFC 3339 in the machine's time zone, or with a `[zone]` suffix.
pub fn parse_now(text: Option<&str>) -> Result<jiff::Zoned, CliError> {
    match text {
        None => Ok(jiff::Zoned::now()),
        Some(text) => crate::pipeline::mist::parse_time(text)
            .map_err(|e| CliError::Usage(format!("--now {text:?}: {e}"))),
    }
}

/// Every audit of the input through the trap bindings: each notification to stdout, each
/// binding that fails to the errors.
pub fn render_traps(
    rules: &RuleSet,
    input: &[u8],
    params: &Params,
    options: &TrapRender,
) -> Rendered {
    let mut out = Rendered::default();
    let mut stdout = Vec::new();
    for (number, decoded) in audit::decode_input(input).into_iter().enumerate() {
        // Writing to memory cannot fail.
        let _ = render_audit(
            number + 1,
            decoded,
            rules,
            params,
            options,
            &mut stdout,
            &mut out,
        );
    }
    out.stdout = String::from_utf8_lossy(&stdout).into_owned();
    out
}

/// One audit through the trap bindings: its notifications to `stdout`, its errors to `out`.
fn render_audit(
    number: usize,
    decoded: Result<Value, audit::AuditError>,
    rules: &RuleSet,
    params: &Params,
    options: &TrapRender,
    stdout: &mut impl std::io::Write,
    out: &mut Rendered,
) -> std::io::Result<()> {
    let audit = match decoded {
        Ok(audit) => audit,
        Err(error) => {
            out.error(format!("audit {number}: {error}"));
            return Ok(());
        }
    };
    let source = audit.get("source").and_then(Value::as_str).unwrap_or("?");
    let outcome = if options.explain {
        pipeline::audit::explain(rules, params, &audit)
    } else {
        pipeline::audit::evaluate(rules, params, &audit).map(|trap| (trap, Vec::new()))
    };
    let Outcome::Matched {
        notifications,
        errors,
    } = outcome
    else {
        if options.json {
            let line = json!({"audit": number, "source": source, "matched": false});
            writeln!(stdout, "{line}")?;
        } else {
            let label = pipeline::audit::label(Some(number), &audit);
            writeln!(stdout, "# {label}: no trap binding matches\n")?;
        }
        return Ok(());
    };
    for (trap, explained) in notifications {
        if options.json {
            out.json.write(number, source, &trap, &explained, stdout)?;
        } else {
            let label = pipeline::audit::label(Some(number), &audit);
            writeln!(stdout, "# {label}")?;
            stdout.write_all(trap.table().as_bytes())?;
            if options.explain {
                stdout.write_all(explain_text(&explained).as_bytes())?;
            }
            if options.hex {
                stdout.write_all(trap_hex(&trap).as_bytes())?;
            }
            stdout.write_all(b"\n")?;
        }
    }
    if !errors.is_empty() {
        let label = pipeline::audit::label(Some(number), &audit);
        for error in errors {
            out.rule_error(rules, &error, Some(&label));
        }
    }
    Ok(())
}

/// Writes notifications as JSON lines, straight from the records: `render trap --json` of
/// a large input spends its time here. The key order is the output's contract:
/// `{"audit", "source", "matched", "rule", "oid", "varbinds": [{"index", "name", "oid",
/// "type", "value"}], "explain"?}`.
#[derive(Debug, Default)]
struct JsonLine {
    line: Vec<u8>,
    text: String,
    /// OIDs already written as JSON strings: the rules' OIDs recur in every notification.
    oids: Vec<(Oid, Vec<u8>)>,
}

impl JsonLine {
    fn write(
        &mut self,
        number: usize,
        source: &str,
        trap: &Trap,
        explained: &[Explained],
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        self.line.clear();
        let _ = write!(self.line, "{{\"audit\":{number},\"source\":");
        self.string(source);
        self.line.extend_from_slice(b",\"matched\":true,\"rule\":");
        self.string(&trap.rule);
        self.line.extend_from_slice(b",\"oid\":");
        self.oid(&trap.oid);
        self.line.extend_from_slice(b",\"varbinds\":[");
        for (i, varbind) in trap.varbinds.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            let _ = write!(self.line, "{{\"index\":{},\"name\":", varbind.index);
            self.string(&varbind.name);
            self.line.extend_from_slice(b",\"oid\":");
            self.oid(&varbind.oid);
            self.line.extend_from_slice(b",\"type\":");
            self.string(varbind.value.snmp_type().smi_name());
            self.line.extend_from_slice(b",\"value\":");
            self.text.clear();
            let _ = write!(self.text, "{}", varbind.value);
            let text = std::mem::take(&mut self.text);
            self.string(&text);
            self.text = text;
            self.line.push(b'}');
        }
        self.line.push(b']');
        if !explained.is_empty() {
            self.line.extend_from_slice(b",\"explain\":");
            serde_json::to_writer(&mut self.line, explained)?;
        }
        self.line.extend_from_slice(b"}\n");
        out.write_all(&self.line)
    }

    fn string(&mut self, text: &str) {
        // Writing to memory cannot fail.
        let _ = serde_json::to_writer(&mut self.line, text);
    }

    fn oid(&mut self, oid: &Oid) {
        if let Some((_, text)) = self.oids.iter().find(|(known, _)| known == oid) {
            self.line.extend_from_slice(text);
            return;
        }
        let start = self.line.len();
        self.string(&oid.to_string());
        // A few dozen at most come from the rules; OIDs computed per audit are not kept.
        if self.oids.len() < 256 {
            self.oids.push((oid.clone(), self.line[start..].to_vec()));
        }
    }
}

/// The trap as the SNMPv2c Trap message `trap send` would send, decoded back and in hex,
/// with request-id and sysUpTime fixed at 0 so the bytes are reproducible.
fn trap_hex(trap: &Trap) -> String {
    use crate::sink::snmp::{Envelope, PduKind, SnmpVersion, describe};
    let envelope = Envelope {
        version: SnmpVersion::V2c,
        pdu: PduKind::Trap,
        community: b"public",
        request_id: 0,
        uptime: 0,
        agent_addr: [0, 0, 0, 0],
    };
    match describe(trap, &envelope) {
        Ok(text) => format!(
            "  as SNMPv2c Trap, community \"public\", request-id 0, sysUpTime 0:\n{}",
            indent(&text, "    ")
        ),
        Err(error) => format!("  cannot encode: {error}\n"),
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}\n"))
        .collect()
}

fn explain_text(explained: &[Explained]) -> String {
    let mut text = String::new();
    for entry in explained {
        let _ = writeln!(text, "  ├─ {} = {}", entry.target, entry.value);
        let _ = writeln!(text, "  │    {}  ({})", entry.expression, entry.location);
        for (path, value) in &entry.reads {
            let _ = writeln!(text, "  │    reads {path} = {value}");
        }
    }
    text
}

/// A Mist document through the agent mappings: each agent's XML (or JSON records).
pub fn render_mist(
    rules: &RuleSet,
    input: &[u8],
    params: &Params,
    now: &jiff::Zoned,
    json: bool,
    explain: bool,
) -> Rendered {
    let mut out = Rendered::default();
    let document: Value = match serde_json::from_slice(input) {
        Ok(document) => document,
        Err(error) => {
            out.error(format!("the Mist document is not JSON: {error}"));
            return out;
        }
    };
    let results: Vec<Result<(Agent, Vec<Explained>), EvalError>> = if explain {
        rules.explain_agents(&document, params)
    } else {
        rules
            .agents(&document, params)
            .into_iter()
            .map(|r| r.map(|a| (a, Vec::new())))
            .collect()
    };
    for result in results {
        match result {
            Ok((agent, explained)) => {
                if json {
                    let mut record = json!(agent);
                    if !explained.is_empty() {
                        record["explain"] = json!(explained);
                    }
                    let _ = writeln!(out.stdout, "{record}");
                    continue;
                }
                if explain {
                    let _ = writeln!(out.stdout, "# agent {}", agent.name);
                    out.stdout.push_str(&explain_text(&explained));
                    out.stdout.push('\n');
                    continue;
                }
                match pandora::render_agent(&agent, now) {
                    Ok(xml) => {
                        out.stdout.push_str(&xml);
                        if !xml.ends_with('\n') {
                            out.stdout.push('\n');
                        }
                        out.stdout.push('\n');
                    }
                    Err(error) => out.error(format!("agent {}: {error}", agent.name)),
                }
            }
            Err(error) => out.rule_error(rules, &error, None),
        }
    }
    out
}
