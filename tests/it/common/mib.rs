//! PMC-MIB as a real MIB parser sees it: `smidump -f xml` (smitools) over `mibs/`, read
//! with quick-xml. Also the external-tool runner the MIB tests share, and the OID layout
//! the MIB must have.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use monbridge::record::{Oid, SnmpType};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::repo_root;

/// The seven objects every notification carries, in OBJECTS order.
pub const PMC_OBJECTS: [(&str, &str); 7] = [
    ("pmcNameGateway", "1.3.6.1.4.1.39059.1.1.1.1.1"),
    ("pmcNameService", "1.3.6.1.4.1.39059.1.1.1.1.2"),
    ("pmcNameEvent", "1.3.6.1.4.1.39059.1.1.1.1.3"),
    ("pmcLabelVariable", "1.3.6.1.4.1.39059.1.1.1.1.4"),
    ("pmcValueVariable", "1.3.6.1.4.1.39059.1.1.1.1.5"),
    ("pmcSeverity", "1.3.6.1.4.1.39059.1.1.1.1.6"),
    ("pmcDate", "1.3.6.1.4.1.39059.1.1.1.1.7"),
];

/// The eleven notifications: name, OID, and the audit code each one reports.
pub const PMC_NOTIFICATIONS: [(&str, &str, &str); 11] = [
    ("pmcStateLink", "1.3.6.1.4.1.39059.1.0.1", "STLNK"),
    ("pmcStateChannel", "1.3.6.1.4.1.39059.1.0.2", "STCHA"),
    ("pmcStateService", "1.3.6.1.4.1.39059.1.0.3", "STSRV"),
    ("pmcStart", "1.3.6.1.4.1.39059.1.0.4", "START"),
    ("pmcStop", "1.3.6.1.4.1.39059.1.0.5", "FSTOP"),
    ("pmcConfigurationChange", "1.3.6.1.4.1.39059.1.0.6", "CONCH"),
    ("pmcServiceFailure", "1.3.6.1.4.1.39059.1.0.7", "SRVFL"),
    (
        "pmcSnmpAuthenticationFailure",
        "1.3.6.1.4.1.39059.1.0.8",
        "SNAUF",
    ),
    ("pmcEventInfo", "1.3.6.1.4.1.39059.1.0.9", "EVTIF"),
    ("pmcEventWarning", "1.3.6.1.4.1.39059.1.0.10", "EVTWA"),
    ("pmcEventFatal", "1.3.6.1.4.1.39059.1.0.11", "EVTFA"),
];

/// Longest any MIB tool may run; they parse a few local files.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

pub fn mibs_dir() -> PathBuf {
    repo_root().join("mibs")
}

/// The vendored IETF base modules PMC-MIB imports.
pub fn ietf_mibs_dir() -> PathBuf {
    mibs_dir().join("ietf")
}

pub fn pmc_mib_path() -> PathBuf {
    mibs_dir().join("PMC-MIB.txt")
}

/// Search path for smitools (`SMIPATH`) and net-snmp (`-M`): the base modules, then ours.
pub fn mib_search_path() -> String {
    format!("{}:{}", ietf_mibs_dir().display(), mibs_dir().display())
}

/// Runs an external tool to completion (bounded by a timeout), capturing its output.
/// A missing tool fails with the Debian package that provides it.
pub fn run_tool(
    program: &str,
    debian_package: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_remove("MIBS")
        .env_remove("MIBDIRS")
        .env_remove("SMIPATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{program}` is not installed: install the Debian package {debian_package} \
             (apt-get install {debian_package})"
        ),
        Err(e) => panic!("cannot run `{program}`: {e}"),
    };
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "`{program} {}` still running after {TOOL_TIMEOUT:?}",
                    args.join(" ")
                );
            }
            Err(e) => panic!("cannot wait for `{program}`: {e}"),
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// PMC-MIB's objects and notifications, in MIB order.
#[derive(Debug, Clone, PartialEq)]
pub struct PmcMib {
    pub entries: Vec<MibEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MibEntry {
    pub name: String,
    pub oid: Oid,
    pub kind: MibKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MibKind {
    Object(ObjectSyntax),
    /// The notification's OBJECTS, in order.
    Notification {
        objects: Vec<String>,
    },
}

/// An object's SYNTAX as smidump resolves it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSyntax {
    /// SMI base type (smidump names): `OctetString`, `Integer32`, `Unsigned32`,
    /// `ObjectIdentifier`, `Enumeration`, `Bits`, ...
    pub base_type: String,
    /// The named type it derives from (`SnmpAdminString`, `Counter32`, ...), if any.
    pub type_name: Option<String>,
    /// SIZE or range restriction `(min, max)`, if any.
    pub range: Option<(String, String)>,
    /// smidump's access: `notifyonly` is MAX-ACCESS accessible-for-notify.
    pub access: String,
}

impl ObjectSyntax {
    /// The SNMP value type a varbind for this object carries.
    pub fn snmp_type(&self) -> Option<SnmpType> {
        let by_name = match self.type_name.as_deref() {
            Some("Counter32") => Some(SnmpType::Counter32),
            Some("Counter64") => Some(SnmpType::Counter64),
            Some("Gauge32" | "Unsigned32") => Some(SnmpType::Gauge32),
            Some("TimeTicks") => Some(SnmpType::TimeTicks),
            Some("IpAddress") => Some(SnmpType::IpAddress),
            _ => None,
        };
        by_name.or(match self.base_type.as_str() {
            "OctetString" | "Bits" => Some(SnmpType::OctetString),
            "Integer32" | "Enumeration" => Some(SnmpType::Integer),
            "Unsigned32" => Some(SnmpType::Gauge32),
            "Unsigned64" => Some(SnmpType::Counter64),
            "ObjectIdentifier" => Some(SnmpType::ObjectId),
            _ => None,
        })
    }
}

impl PmcMib {
    pub fn objects(&self) -> impl Iterator<Item = &MibEntry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, MibKind::Object(_)))
    }

    pub fn notifications(&self) -> impl Iterator<Item = &MibEntry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, MibKind::Notification { .. }))
    }

    pub fn by_name(&self, name: &str) -> Option<&MibEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn by_oid(&self, oid: &Oid) -> Option<&MibEntry> {
        self.entries.iter().find(|e| &e.oid == oid)
    }
}

/// PMC-MIB parsed once per test run by smidump (smitools), shared by every test.
pub fn load_pmc_mib() -> PmcMib {
    static MIB: OnceLock<PmcMib> = OnceLock::new();
    MIB.get_or_init(|| {
        let search_path = mib_search_path();
        let mib = pmc_mib_path();
        let mib = mib.to_string_lossy();
        // -l 2: report only real errors, which make the dump untrustworthy.
        let output = run_tool(
            "smidump",
            "smitools",
            &["-l", "2", "-f", "xml", &mib],
            &[("SMIPATH", &search_path)],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.trim().is_empty(),
            "smidump failed ({}):\n{stderr}",
            output.status
        );
        let xml = String::from_utf8(output.stdout).expect("smidump writes UTF-8 XML");
        parse_smidump_xml(&xml).unwrap_or_else(|e| panic!("cannot read smidump's XML: {e}"))
    })
    .clone()
}

fn attribute(element: &BytesStart, name: &str) -> Result<Option<String>, String> {
    match element.try_get_attribute(name) {
        Ok(Some(attribute)) => attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map(|value| Some(value.into_owned()))
            .map_err(|e| format!("attribute {name}: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("attribute {name}: {e}")),
    }
}

fn required(element: &BytesStart, name: &str) -> Result<String, String> {
    attribute(element, name)?.ok_or_else(|| format!("<{}> without {name}", element.name().as_ref()))
}

fn oid(element: &BytesStart) -> Result<Oid, String> {
    let text = required(element, "oid")?;
    text.parse().map_err(|e| format!("OID {text}: {e}"))
}

/// The entry being read: its name, OID and what has been seen of it so far.
enum Pending {
    Object {
        name: String,
        oid: Oid,
        syntax: ObjectSyntax,
        in_access: bool,
    },
    Notification {
        name: String,
        oid: Oid,
        objects: Vec<String>,
    },
}

/// Reads the `<scalar>`/`<column>` and `<notification>` elements of smidump's XML.
pub fn parse_smidump_xml(xml: &str) -> Result<PmcMib, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut entries = Vec::new();
    let mut pending: Option<Pending> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(element) | Event::Empty(element) => {
                match (element.name().as_ref(), &mut pending) {
                    ("scalar" | "column", None) => {
                        pending = Some(Pending::Object {
                            name: required(&element, "name")?,
                            oid: oid(&element)?,
                            syntax: ObjectSyntax {
                                base_type: String::new(),
                                type_name: None,
                                range: None,
                                access: String::new(),
                            },
                            in_access: false,
                        });
                    }
                    ("notification", None) => {
                        pending = Some(Pending::Notification {
                            name: required(&element, "name")?,
                            oid: oid(&element)?,
                            objects: Vec::new(),
                        });
                    }
                    ("typedef", Some(Pending::Object { syntax, .. })) => {
                        syntax.base_type = required(&element, "basetype")?;
                    }
                    ("parent" | "type", Some(Pending::Object { syntax, .. })) => {
                        syntax.type_name = Some(required(&element, "name")?);
                    }
                    ("range", Some(Pending::Object { syntax, .. })) => {
                        syntax.range =
                            Some((required(&element, "min")?, required(&element, "max")?));
                    }
                    ("access", Some(Pending::Object { in_access, .. })) => *in_access = true,
                    ("object", Some(Pending::Notification { objects, .. })) => {
                        objects.push(required(&element, "name")?);
                    }
                    _ => {}
                }
            }
            Event::Text(text) => {
                if let Some(Pending::Object {
                    syntax,
                    in_access: true,
                    ..
                }) = &mut pending
                {
                    syntax.access.push_str(text.xml10_content().trim());
                }
            }
            Event::End(element) => match (element.name().as_ref(), pending.take()) {
                (
                    "access",
                    Some(Pending::Object {
                        name, oid, syntax, ..
                    }),
                ) => {
                    pending = Some(Pending::Object {
                        name,
                        oid,
                        syntax,
                        in_access: false,
                    });
                }
                (
                    "scalar" | "column",
                    Some(Pending::Object {
                        name, oid, syntax, ..
                    }),
                ) => {
                    entries.push(MibEntry {
                        name,
                        oid,
                        kind: MibKind::Object(syntax),
                    });
                }
                ("notification", Some(Pending::Notification { name, oid, objects })) => {
                    entries.push(MibEntry {
                        name,
                        oid,
                        kind: MibKind::Notification { objects },
                    });
                }
                (_, still) => pending = still,
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if pending.is_some() {
        return Err("the XML ends inside an object or notification".to_owned());
    }
    Ok(PmcMib { entries })
}
