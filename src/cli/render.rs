//! `monbridge render` and `monbridge explain`: evaluate rules over input data and print what
//! they produce. Nothing is sent or written.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{CliError, RenderCommand, params_from, read_input};
use crate::lang::RuleSet;
use crate::lang::{EvalError, Explained, Params};
use crate::pipeline;
use crate::pipeline::audit::Outcome;
use crate::record::{Agent, Trap};
use crate::sink::pandora;
use crate::source::audit;

pub fn run(command: &RenderCommand, explain: bool) -> Result<u8, CliError> {
    let output = match command {
        RenderCommand::Trap(args) => {
            let rules = args.rules.load()?;
            let input = read_input(&args.input)?;
            let options = TrapRender {
                hex: args.hex,
                json: args.json,
                explain,
            };
            render_traps(&rules, &input, &params_from(&args.params), &options)
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
    if output.errors.is_empty() {
        Ok(super::EXIT_OK)
    } else {
        Err(CliError::Failed(format!(
            "{} input{} could not be rendered",
            output.errors.len(),
            if output.errors.len() == 1 { "" } else { "s" }
        )))
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
    for (number, decoded) in audit::decode_input(input).into_iter().enumerate() {
        let number = number + 1;
        let audit = match decoded {
            Ok(audit) => audit,
            Err(error) => {
                out.error(format!("audit {number}: {error}"));
                continue;
            }
        };
        let source = audit.get("source").and_then(Value::as_str).unwrap_or("?");
        let label = pipeline::audit::label(Some(number), &audit);
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
                let _ = writeln!(out.stdout, "{line}");
            } else {
                let _ = writeln!(out.stdout, "# {label}: no trap binding matches\n");
            }
            continue;
        };
        for (trap, explained) in notifications {
            if options.json {
                let _ = writeln!(
                    out.stdout,
                    "{}",
                    trap_json(number, source, &trap, &explained)
                );
            } else {
                let _ = writeln!(out.stdout, "# {label}");
                out.stdout.push_str(&trap.table());
                if options.explain {
                    out.stdout.push_str(&explain_text(&explained));
                }
                if options.hex {
                    out.stdout.push_str(&trap_hex(&trap));
                }
                out.stdout.push('\n');
            }
        }
        for error in errors {
            out.rule_error(rules, &error, Some(&label));
        }
    }
    out
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

fn trap_json(number: usize, source: &str, trap: &Trap, explained: &[Explained]) -> Value {
    let varbinds: Vec<Value> = trap
        .varbinds
        .iter()
        .map(|v| {
            json!({
                "index": v.index,
                "name": v.name,
                "oid": v.oid.to_string(),
                "type": v.value.snmp_type().smi_name(),
                "value": v.value.to_string(),
            })
        })
        .collect();
    let mut line = json!({
        "audit": number,
        "source": source,
        "matched": true,
        "rule": trap.rule,
        "oid": trap.oid.to_string(),
        "varbinds": varbinds,
    });
    if !explained.is_empty() {
        line["explain"] = json!(explained);
    }
    line
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
