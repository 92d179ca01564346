//! `monbridge demo`: both pipelines over the sample data embedded with the default rules —
//! no network, no credentials, nothing sent.

use std::path::PathBuf;

use clap::Args;

use super::render::{TrapRender, render_mist, render_traps};
use super::test_cmd::{Case, default_case};
use super::{CliError, EXIT_OK};
use crate::lang::Params;
use crate::lang::{LoadOptions, RuleSet};
use crate::sink::pandora;

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Also write the sample agents as Pandora data files into this folder (as `monbridge mist` would).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: &DemoArgs) -> Result<u8, CliError> {
    let mist = default_case("mist_fixture_org")?;
    let audits = default_case("audit_all_codes")?;
    let now = jiff::Zoned::now();

    println!("# Mist → Pandora: the sample organisation through rules/mist.rules\n");
    let rules = load(&mist)?;
    let params = Params(mist.params.clone());
    let document =
        serde_json::to_vec(&mist.input).map_err(|e| CliError::Internal(e.to_string()))?;
    let rendered = render_mist(&rules, &document, &params, &now, false, false);
    print!("{}", rendered.stdout);
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        for agent in rules.agents(&mist.input, &params).into_iter().flatten() {
            let path = pandora::write_agent(dir, &agent, &now)
                .map_err(|e| CliError::Internal(e.to_string()))?;
            eprintln!("wrote {}", path.display());
        }
    }

    println!("# Fledge audits → SNMP: one audit of each code through rules/audit.rules\n");
    let rules = load(&audits)?;
    let input = serde_json::to_vec(&audits.input).map_err(|e| CliError::Internal(e.to_string()))?;
    let rendered = render_traps(
        &rules,
        &input,
        &Params(audits.params.clone()),
        &TrapRender::default(),
    );
    print!("{}", rendered.stdout);
    Ok(EXIT_OK)
}

fn load(case: &Case) -> Result<RuleSet, CliError> {
    Ok(RuleSet::load(&LoadOptions {
        dir: None,
        env: case.env.clone(),
    })?)
}
