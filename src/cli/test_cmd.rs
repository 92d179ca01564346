//! `monbridge test`: operator golden cases.
//!
//! A case is two files in the rules folder's `tests/`: `NAME.json`, the input and the
//! settings, and `NAME.expected`, exactly what `monbridge render` prints for it (errors as
//! `error: ...` lines). Cases run through the same loading and evaluation code as
//! production, so a passing case means the rules behave that way for real.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use super::render::{Rendered, TrapRender, parse_now, render_mist, render_traps};
use super::{CliError, RulesArgs};
use crate::lang::Params;
use crate::lang::{DEFAULT_CASES, LoadOptions, RuleSet};

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Write each case's actual output to its `.expected` file instead of comparing.
    #[arg(long)]
    pub update: bool,
    /// Run only the cases whose name contains this text.
    #[arg(value_name = "FILTER")]
    pub filter: Option<String>,
}

/// One golden case's settings and input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `trap` (audits through trap bindings) or `mist` (a Mist document through agent mappings).
    pub kind: CaseKind,
    #[serde(default)]
    pub description: String,
    /// `env.NAME` values, so the case does not depend on the machine.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The agents' timestamp, for `mist` cases.
    #[serde(default)]
    pub now: Option<String>,
    /// The input: an audit, a list of audits, a Fledge audit list response, or a Mist document.
    pub input: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    Trap,
    Mist,
}

pub fn run(args: &TestArgs, _color: bool) -> Result<u8, CliError> {
    let cases = load_cases(args.rules.rules.as_deref())?;
    let mut passed = 0;
    let mut failed = 0;
    for (name, case_text, expected, expected_path) in cases {
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !name.contains(f.as_str()))
        {
            continue;
        }
        let (description, actual) = match run_case(&args.rules, &name, &case_text) {
            Ok(ran) => ran,
            Err(error) => {
                failed += 1;
                println!("FAILED {name}\n{}\n", error.to_string().trim_end());
                continue;
            }
        };
        if args.update {
            let Some(path) = expected_path else {
                return Err(CliError::Usage(
                    "--update needs --rules DIR: the embedded cases cannot be written".into(),
                ));
            };
            std::fs::write(&path, &actual)
                .map_err(|e| CliError::Internal(format!("cannot write {}: {e}", path.display())))?;
            println!("updated {name}");
            passed += 1;
        } else if actual == expected {
            println!("ok {name}");
            passed += 1;
        } else {
            failed += 1;
            println!("FAILED {name}: output differs from the expected file (- expected, + actual)");
            if !description.is_empty() {
                println!("  case: {description}");
            }
            print!("{}", diff(&expected, &actual));
            println!();
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        Ok(super::EXIT_OK)
    } else {
        Err(CliError::Failed(format!(
            "{failed} case{} failed",
            if failed == 1 { "" } else { "s" }
        )))
    }
}

/// One of the embedded cases of the default rules, parsed.
pub fn default_case(name: &str) -> Result<Case, CliError> {
    let (_, text, _) = DEFAULT_CASES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| CliError::Internal(format!("no embedded case {name}")))?;
    serde_json::from_str(text).map_err(|e| CliError::Internal(format!("embedded case {name}: {e}")))
}

type LoadedCase = (String, String, String, Option<PathBuf>);

fn load_cases(dir: Option<&Path>) -> Result<Vec<LoadedCase>, CliError> {
    let Some(dir) = dir else {
        return Ok(DEFAULT_CASES
            .iter()
            .map(|(name, case, expected)| {
                (
                    (*name).to_owned(),
                    (*case).to_owned(),
                    (*expected).to_owned(),
                    None,
                )
            })
            .collect());
    };
    let tests = dir.join("tests");
    let entries = std::fs::read_dir(&tests).map_err(|e| {
        CliError::Data(format!(
            "cannot read the cases folder {}: {e}",
            tests.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut cases = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let case = std::fs::read_to_string(&path)
            .map_err(|e| CliError::Data(format!("cannot read {}: {e}", path.display())))?;
        let expected_path = path.with_extension("expected");
        // A case without an expected file yet fails with the whole output as the diff.
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        cases.push((name, case, expected, Some(expected_path)));
    }
    Ok(cases)
}

/// Runs one case exactly as `monbridge render` would; returns its description and what it prints.
pub fn run_case(
    rules_args: &RulesArgs,
    name: &str,
    case_text: &str,
) -> Result<(String, String), CliError> {
    let case: Case = serde_json::from_str(case_text)
        .map_err(|e| CliError::Data(format!("case {name}: not a valid case file: {e}")))?;
    let mut env: BTreeMap<String, String> = rules_args.env.iter().cloned().collect();
    env.extend(case.env.clone());
    let rules = RuleSet::load(&LoadOptions {
        dir: rules_args.rules.clone(),
        env,
    })?;
    let params = Params(case.params.clone());
    let input = serde_json::to_vec(&case.input)
        .map_err(|e| CliError::Internal(format!("case {name}: {e}")))?;
    let rendered = match case.kind {
        CaseKind::Trap => render_traps(&rules, &input, &params, &TrapRender::default()),
        CaseKind::Mist => {
            let now = parse_now(Some(
                case.now
                    .as_deref()
                    .unwrap_or("2024-07-10T10:05:00+00:00[UTC]"),
            ))?;
            render_mist(&rules, &input, &params, &now, false, false)
        }
    };
    // Errors name rule files by their file name only, so a case gives the same output for
    // the embedded rules and for the same files in a folder.
    let mut text = combined(rendered);
    for file in rules.sources().files() {
        let short = Path::new(&file.name)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        text = text.replace(&format!("{}:", file.name), &format!("{short}:"));
    }
    Ok((case.description, text))
}

fn combined(rendered: Rendered) -> String {
    let mut text = rendered.stdout;
    for error in rendered.errors {
        let _ = writeln!(text, "error: {error}");
    }
    text
}

fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .to_string()
}
