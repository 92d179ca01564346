//! `monbridge serve`: run the gateway daemon, or only check its configuration.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXIT_OK};
use crate::lang::RuleSet;
use crate::serve::Config;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The YAML configuration file.
    #[arg(long, value_name = "FILE", env = "MONBRIDGE_CONFIG")]
    pub config: PathBuf,
    /// Check the configuration and the rules it names, print a summary, and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// Loads the configuration and its rules: everything `--check-config` promises.
pub fn load(args: &ServeArgs) -> Result<(Config, RuleSet), CliError> {
    let config = Config::load(&args.config).map_err(|e| CliError::Data(e.to_string()))?;
    crate::serve::http::check_tls(&config).map_err(CliError::Data)?;
    let rules = crate::serve::load_rules(&config)?;
    if !rules.has_trap_bindings() {
        return Err(CliError::Data(format!(
            "{}: the rules define no trap binding, so no audit could ever be sent",
            config.path.display()
        )));
    }
    Ok((config, rules))
}

pub fn run(args: &ServeArgs) -> Result<u8, CliError> {
    let (config, rules) = load(args)?;
    if args.check_config {
        let mut intakes = Vec::new();
        if config.intakes.stdin {
            intakes.push("stdin".to_owned());
        }
        if let Some(http) = &config.intakes.http {
            intakes.push(format!("http {}", http.address));
        }
        if let Some(fledge) = &config.intakes.fledge {
            intakes.push(format!("fledge {}", fledge.url));
        }
        let destinations: Vec<String> = config
            .destinations
            .iter()
            .map(|d| match d.sender.security.v3() {
                Some(v3) => format!(
                    "{} {} (SNMPv3 user {}, {})",
                    d.name,
                    d.address,
                    v3.user.name,
                    v3.user.security_level()
                ),
                None => format!("{} {}", d.name, d.address),
            })
            .collect();
        // The engine ID is what managers key trap users to (`createUser -e`).
        let engine = if config.uses_v3() {
            format!("; SNMPv3 engine ID {}", config.snmp_engine_id)
        } else {
            String::new()
        };
        println!(
            "ok: {}; intakes: {}; destinations ({}): {}; rules: {}{engine}",
            config.path.display(),
            intakes.join(", "),
            config.policy.name(),
            destinations.join(", "),
            rules.rule_names().join(", ")
        );
        return Ok(EXIT_OK);
    }
    // A level given on the command line or in MONBRIDGE_LOG was set up already and wins.
    super::init_logging(&config.log_level);
    for warning in rules.warnings() {
        tracing::warn!(
            "{}",
            rules
                .sources()
                .render(std::slice::from_ref(warning), false)
                .trim_end()
        );
    }
    crate::serve::run(config, rules).map_err(|e| CliError::Internal(e.to_string()))?;
    Ok(EXIT_OK)
}
