//! Pandora FMS records and their schema: the agent and module records agent mappings build,
//! and the vocabulary of Pandora's agent XML they may use. The rules checker and the spool
//! writer read the same lists, so what a rule may set and what a file may carry never differ.

use serde::Serialize;

/// One Pandora FMS agent, built by an agent mapping.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agent {
    /// Name of the agent mapping that built it.
    pub rule: String,
    /// `agent_name`: the agent's identity in Pandora.
    pub name: String,
    /// Other `<agent_data>` attributes (`agent_alias`, `group`, `interval`, ...), in rule order,
    /// keyed by their Pandora attribute name.
    pub attributes: Vec<(String, String)>,
    pub modules: Vec<Module>,
}

impl Agent {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One Pandora module of an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Module {
    pub name: String,
    /// Pandora module type, e.g. `generic_data`, `generic_proc`.
    pub module_type: String,
    pub data: String,
    /// Optional `<module>` children (`description`, `unit`, `min_critical`, ...) in rule order.
    pub fields: Vec<(String, String)>,
}

impl Module {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Agent fields, as written in rules, with the `<agent_data>` attribute each one sets.
pub const AGENT_FIELDS: [(&str, &str); 20] = [
    ("name", "agent_name"),
    ("alias", "agent_alias"),
    ("group", "group"),
    ("description", "description"),
    ("os_name", "os_name"),
    ("os_version", "os_version"),
    ("interval", "interval"),
    ("version", "version"),
    ("address", "address"),
    ("parent_agent_name", "parent_agent_name"),
    ("agent_mode", "agent_mode"),
    ("timezone_offset", "timezone_offset"),
    ("custom_id", "custom_id"),
    ("url_address", "url_address"),
    ("latitude", "latitude"),
    ("longitude", "longitude"),
    ("altitude", "altitude"),
    ("position_description", "position_description"),
    ("secondary_groups", "secondary_groups"),
    ("timestamp", "timestamp"),
];

/// Optional `<module>` children Pandora's data server reads (besides name, type and data).
pub const MODULE_FIELDS: [&str; 38] = [
    "description",
    "unit",
    "module_group",
    "tags",
    "custom_id",
    "min",
    "max",
    "post_process",
    "min_warning",
    "max_warning",
    "min_critical",
    "max_critical",
    "str_warning",
    "str_critical",
    "warning_inverse",
    "critical_inverse",
    "critical_instructions",
    "warning_instructions",
    "unknown_instructions",
    "status",
    "disabled",
    "quiet",
    "timestamp",
    "min_ff_event",
    "min_ff_event_normal",
    "min_ff_event_warning",
    "min_ff_event_critical",
    "ff_type",
    "ff_timeout",
    "each_ff",
    "module_ff_interval",
    "crontab",
    "cron_interval",
    "module_parent",
    "module_parent_unlink",
    "alert_template",
    "extended_info",
    "ff_event",
];

/// Pandora module types an agent file may declare.
pub const MODULE_TYPES: [&str; 9] = [
    "generic_data",
    "generic_proc",
    "generic_data_string",
    "generic_data_inc",
    "generic_data_inc_abs",
    "async_proc",
    "async_data",
    "async_string",
    "keep_alive",
];

/// Root attributes that change what the data server does with the file, or clash with the
/// structure written here.
pub const RESERVED_ATTRIBUTES: [(&str, &str); 5] = [
    (
        "agent_name",
        "it is the agent's name, written from the record's name",
    ),
    (
        "server_name",
        "it makes Pandora read the file as a server description",
    ),
    (
        "connection_source",
        "it sends the file to an enterprise hook",
    ),
    ("ipam_source", "it sends the file to an enterprise hook"),
    (
        "module",
        "XML::Simple would mix it with the <module> elements",
    ),
];

/// `<module>` children written from the module itself. `datalist` is reserved too: Pandora
/// reads it instead of `<data>`, and it holds elements, not text.
pub const RESERVED_FIELDS: [&str; 4] = ["name", "type", "data", "datalist"];
