//! MIBs: a small SMIv2 reader, enough to know which notifications and objects a set of MIB
//! modules defines, with each object's SYNTAX and each notification's OBJECTS, and the
//! file and line each comes from. `lang` checks trap bindings against it.
//!
//! Not a MIB compiler: it trusts the modules to be valid SMI (smilint checks the shipped
//! ones) and keeps only what a varbind needs.

mod lex;
mod parse;
mod resolve;

use std::path::{Path, PathBuf};

use crate::record::{Oid, SnmpType};

pub use parse::{TypeBase, TypeExpr};

/// The MIBs shipped in `mibs/`, embedded so that `check` needs no files: PMC-MIB and the
/// IETF modules it imports. Names as the operator sees them in notes.
pub const EMBEDDED: [(&str, &str); 6] = [
    (
        "<embedded>/PMC-MIB.txt",
        include_str!("../../mibs/PMC-MIB.txt"),
    ),
    (
        "<embedded>/ietf/SNMPv2-SMI.txt",
        include_str!("../../mibs/ietf/SNMPv2-SMI.txt"),
    ),
    (
        "<embedded>/ietf/SNMPv2-TC.txt",
        include_str!("../../mibs/ietf/SNMPv2-TC.txt"),
    ),
    (
        "<embedded>/ietf/SNMPv2-CONF.txt",
        include_str!("../../mibs/ietf/SNMPv2-CONF.txt"),
    ),
    (
        "<embedded>/ietf/SNMPv2-MIB.txt",
        include_str!("../../mibs/ietf/SNMPv2-MIB.txt"),
    ),
    (
        "<embedded>/ietf/SNMP-FRAMEWORK-MIB.txt",
        include_str!("../../mibs/ietf/SNMP-FRAMEWORK-MIB.txt"),
    ),
];

/// A MIB file this reader cannot use.
#[derive(Debug, thiserror::Error)]
pub enum MibError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: u32,
        message: String,
    },
}

/// Definitions of a set of MIB modules, resolved to OIDs.
#[derive(Debug, Default)]
pub struct MibSet {
    defs: Vec<Definition>,
    /// Index into `defs` by OID; the first definition of an OID wins.
    by_oid: std::collections::BTreeMap<Oid, usize>,
    /// Module names and the file each came from, in load order.
    modules: Vec<(String, String)>,
}

/// One named OID of a module.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub module: String,
    pub name: String,
    /// The file as named to the operator, and the line the definition starts on.
    pub file: String,
    pub line: u32,
    pub oid: Oid,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// OBJECT IDENTIFIER, MODULE-IDENTITY, OBJECT-IDENTITY, groups, compliances.
    Node,
    Object(Syntax),
    Notification {
        /// The OBJECTS, resolved: name and OID.
        objects: Vec<(String, Oid)>,
        /// Line of the OBJECTS clause.
        objects_line: u32,
    },
}

/// An object's SYNTAX, with textual conventions followed down to the SMI type.
#[derive(Debug, Clone, PartialEq)]
pub struct Syntax {
    /// As written in the OBJECT-TYPE: `SnmpAdminString (SIZE (0..255))`.
    pub text: String,
    pub line: u32,
    pub base: SmiType,
    /// The textual convention, when the SYNTAX names one.
    pub convention: Option<String>,
    /// The innermost SIZE or value range that applies (the OBJECT-TYPE's own, else the
    /// convention's); each pair an allowed interval.
    pub size: Option<Vec<(i128, i128)>>,
    pub range: Option<Vec<(i128, i128)>>,
}

/// The types an SMIv2 SYNTAX comes down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmiType {
    OctetString,
    ObjectIdentifier,
    Integer,
    Integer32,
    Unsigned32,
    Gauge32,
    Counter32,
    Counter64,
    TimeTicks,
    IpAddress,
    Opaque,
    Bits,
    /// A row or table type: never sent in a varbind.
    Constructed,
}

impl SmiType {
    /// SNMPv2-SMI's application types, known by name wherever they are imported from.
    pub fn application(name: &str) -> Option<SmiType> {
        Some(match name {
            "Integer32" => SmiType::Integer32,
            "Unsigned32" => SmiType::Unsigned32,
            "Gauge32" => SmiType::Gauge32,
            "Counter32" => SmiType::Counter32,
            "Counter64" => SmiType::Counter64,
            "TimeTicks" => SmiType::TimeTicks,
            "IpAddress" => SmiType::IpAddress,
            "Opaque" => SmiType::Opaque,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SmiType::OctetString => "OCTET STRING",
            SmiType::ObjectIdentifier => "OBJECT IDENTIFIER",
            SmiType::Integer => "INTEGER",
            SmiType::Integer32 => "Integer32",
            SmiType::Unsigned32 => "Unsigned32",
            SmiType::Gauge32 => "Gauge32",
            SmiType::Counter32 => "Counter32",
            SmiType::Counter64 => "Counter64",
            SmiType::TimeTicks => "TimeTicks",
            SmiType::IpAddress => "IpAddress",
            SmiType::Opaque => "Opaque",
            SmiType::Bits => "BITS",
            SmiType::Constructed => "SEQUENCE",
        }
    }

    /// The rule type that encodes a value of this SYNTAX on the wire (BER tag), if any.
    /// Unsigned32 and Gauge32 share a tag, as do INTEGER and Integer32; BITS travel as
    /// OCTET STRING.
    pub fn snmp_type(self) -> Option<SnmpType> {
        Some(match self {
            SmiType::OctetString | SmiType::Bits => SnmpType::OctetString,
            SmiType::ObjectIdentifier => SnmpType::ObjectId,
            SmiType::Integer | SmiType::Integer32 => SnmpType::Integer,
            SmiType::Unsigned32 | SmiType::Gauge32 => SnmpType::Gauge32,
            SmiType::Counter32 => SnmpType::Counter32,
            SmiType::Counter64 => SnmpType::Counter64,
            SmiType::TimeTicks => SnmpType::TimeTicks,
            SmiType::IpAddress => SnmpType::IpAddress,
            SmiType::Opaque | SmiType::Constructed => return None,
        })
    }
}

impl MibSet {
    /// The shipped MIBs, from the binary.
    pub fn embedded() -> Result<MibSet, MibError> {
        MibSet::from_sources(
            EMBEDDED
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                .collect(),
        )
    }

    /// Reads MIB files (a folder stands for its `*.txt`, `*.mib` and `*.my` files). Modules
    /// they import and do not define come from the embedded IETF base modules, so one's own
    /// MIB can be checked without copying SNMPv2-SMI next to it.
    pub fn load(paths: &[PathBuf]) -> Result<MibSet, MibError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let mut entries = read_mib_dir(path)?;
                entries.sort();
                for entry in entries {
                    files.push(read_file(&entry)?);
                }
            } else {
                files.push(read_file(path)?);
            }
        }
        MibSet::from_sources(files)
    }

    /// Reads MIB texts given as `(name, text)`; see [`load`](Self::load) for imports.
    pub fn from_sources(files: Vec<(String, String)>) -> Result<MibSet, MibError> {
        let mut modules = Vec::new();
        for (name, text) in &files {
            for module in parse::parse_file(name, text)? {
                modules.push((name.clone(), module));
            }
        }
        // Base modules fill in what the files import but do not carry.
        let mut embedded = Vec::new();
        for (name, text) in EMBEDDED.iter().skip(1) {
            for module in parse::parse_file(name, text)? {
                embedded.push(((*name).to_owned(), module));
            }
        }
        for (file, module) in embedded {
            if !modules.iter().any(|(_, m)| m.name == module.name) {
                modules.push((file, module));
            }
        }
        resolve::resolve(&modules)
    }

    pub fn definitions(&self) -> &[Definition] {
        &self.defs
    }

    /// Module names and their files, in load order.
    pub fn modules(&self) -> &[(String, String)] {
        &self.modules
    }

    pub fn by_oid(&self, oid: &Oid) -> Option<&Definition> {
        self.by_oid.get(oid).and_then(|&i| self.defs.get(i))
    }

    pub fn by_name(&self, name: &str) -> Option<&Definition> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// The longest defined prefix of an OID (itself included), for notes about OIDs the
    /// MIBs do not define and for object instances (`object.0`).
    pub fn nearest(&self, oid: &Oid) -> Option<&Definition> {
        (1..=oid.arcs().len())
            .rev()
            .find_map(|n| self.by_oid(&Oid::from(&oid.arcs()[..n])))
    }

    /// The definitions directly under an OID, in OID order.
    pub fn children(&self, oid: &Oid) -> impl Iterator<Item = &Definition> {
        let depth = oid.arcs().len() + 1;
        self.by_oid
            .range(oid.clone()..)
            .take_while(move |(o, _)| o.starts_with(oid))
            .filter(move |(o, _)| o.arcs().len() == depth)
            .filter_map(|(_, &i)| self.defs.get(i))
    }
}

fn read_file(path: &Path) -> Result<(String, String), MibError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(source) => Err(MibError::Read { file: name, source }),
    }
}

fn read_mib_dir(dir: &Path) -> Result<Vec<PathBuf>, MibError> {
    let read_error = |source| MibError::Read {
        file: dir.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        let mib = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["txt", "mib", "my"].contains(&e.to_ascii_lowercase().as_str()));
        if mib && path.is_file() {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(text: &str) -> Oid {
        text.parse().unwrap()
    }

    #[test]
    fn embedded_mibs_define_pmc_mib() {
        let mibs = MibSet::embedded().unwrap();
        let date = mibs.by_oid(&oid("1.3.6.1.4.1.39059.1.1.1.1.7")).unwrap();
        assert_eq!((date.name.as_str(), date.line), ("pmcDate", 111));
        assert_eq!(date.file, "<embedded>/PMC-MIB.txt");
        let Kind::Object(syntax) = &date.kind else {
            panic!("an object")
        };
        assert_eq!(syntax.text, "SnmpAdminString (SIZE (0..255))");
        assert_eq!(syntax.base, SmiType::OctetString);
        assert_eq!(syntax.convention.as_deref(), Some("SnmpAdminString"));
        assert_eq!(syntax.size, Some(vec![(0, 255)]));
        let link = mibs.by_name("pmcStateLink").unwrap();
        assert_eq!(link.oid, oid("1.3.6.1.4.1.39059.1.0.1"));
        let Kind::Notification {
            objects,
            objects_line,
        } = &link.kind
        else {
            panic!("a notification")
        };
        assert_eq!(*objects_line, 125);
        assert_eq!(objects.len(), 7);
        assert_eq!(objects[6], ("pmcDate".to_owned(), date.oid.clone()));
        // The base modules resolve too.
        let uptime = mibs.by_name("sysUpTime").unwrap();
        assert_eq!(uptime.oid, oid("1.3.6.1.2.1.1.3"));
        let Kind::Object(syntax) = &uptime.kind else {
            panic!("an object")
        };
        assert_eq!(syntax.base, SmiType::TimeTicks);
        let descr = mibs.by_name("sysDescr").unwrap();
        let Kind::Object(syntax) = &descr.kind else {
            panic!("an object")
        };
        assert_eq!(
            (syntax.base, syntax.size.clone()),
            (SmiType::OctetString, Some(vec![(0, 255)]))
        );
        assert_eq!(mibs.children(&oid("1.3.6.1.4.1.39059.1.0")).count(), 11);
        let instance = mibs.nearest(&oid("1.3.6.1.2.1.1.3.0")).unwrap();
        assert_eq!(instance.name, "sysUpTime");
    }

    #[test]
    fn imports_come_from_the_base_modules_or_fail_with_the_line() {
        let text = "A-MIB DEFINITIONS ::= BEGIN\nIMPORTS\n  enterprises, Counter32 FROM SNMPv2-SMI\n  Foo FROM NOWHERE-MIB;\n\
                    a OBJECT IDENTIFIER ::= { enterprises 7 }\n\
                    c OBJECT-TYPE SYNTAX Counter32 MAX-ACCESS read-only STATUS current DESCRIPTION \"d\" ::= { a 1 }\n\
                    f OBJECT-TYPE SYNTAX Foo MAX-ACCESS read-only STATUS current DESCRIPTION \"d\" ::= { a 2 }\nEND\n";
        let error = MibSet::from_sources(vec![("A-MIB.txt".into(), text.into())]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "A-MIB.txt:4: A-MIB imports Foo from NOWHERE-MIB, which none of the MIB files defines (give it with --mib)"
        );
        let text = text
            .replace("SYNTAX Foo", "SYNTAX Bar")
            .replace("  Foo FROM NOWHERE-MIB;", ";");
        let error = MibSet::from_sources(vec![("A-MIB.txt".into(), text.clone())]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "A-MIB.txt:7: type Bar is neither defined in A-MIB nor imported"
        );
        let text = text.replace("SYNTAX Bar", "SYNTAX Integer32 (1..9)");
        let mibs = MibSet::from_sources(vec![("A-MIB.txt".into(), text)]).unwrap();
        let c = mibs.by_name("c").unwrap();
        assert_eq!(c.oid, oid("1.3.6.1.4.1.7.1"));
        assert!(matches!(&c.kind, Kind::Object(s) if s.base == SmiType::Counter32));
        let f = mibs.by_name("f").unwrap();
        assert!(
            matches!(&f.kind, Kind::Object(s) if s.base == SmiType::Integer32 && s.range == Some(vec![(1, 9)]))
        );
    }

    #[test]
    fn loops_and_unknown_parents_are_errors() {
        let text = "L DEFINITIONS ::= BEGIN\na OBJECT IDENTIFIER ::= { b 1 }\nb OBJECT IDENTIFIER ::= { a 1 }\nc OBJECT IDENTIFIER ::= { nowhere 1 }\nEND";
        let error = MibSet::from_sources(vec![("L.txt".into(), text.into())]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "L.txt:2: the OID of b refers back to itself"
        );
        let text = text.replace("{ b 1 }", "{ iso 1 }");
        let error = MibSet::from_sources(vec![("L.txt".into(), text)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "L.txt:4: nowhere is neither defined in L nor imported"
        );
    }
}
