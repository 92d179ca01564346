//! Names to OIDs and SYNTAXes to SMI types, across modules through their IMPORTS.

use std::collections::{BTreeMap, HashMap};

use super::parse::{OidPart, RawKind, RawModule, TypeBase, TypeExpr};
use super::{Definition, Kind, MibError, MibSet, SmiType, Syntax};
use crate::record::Oid;

/// Deeper than any real MIB's chain of parents or conventions; a loop stops here.
const MAX_DEPTH: usize = 64;

/// Allowed intervals of a SIZE or a range, when the type has one.
type Bounds = Option<Vec<(i128, i128)>>;

/// ASN.1's roots, which no module defines.
const ROOTS: [(&str, u32); 5] = [
    ("ccitt", 0),
    ("itu-t", 0),
    ("iso", 1),
    ("joint-iso-ccitt", 2),
    ("joint-iso-itu-t", 2),
];

struct Resolver<'a> {
    modules: &'a [(String, RawModule)],
    by_name: HashMap<&'a str, usize>,
    oids: HashMap<(usize, String), Vec<u32>>,
}

pub fn resolve(modules: &[(String, RawModule)]) -> Result<MibSet, MibError> {
    let mut by_name = HashMap::new();
    for (index, (file, module)) in modules.iter().enumerate() {
        if let Some(&first) = by_name.get(module.name.as_str()) {
            let (first_file, _): &(String, RawModule) = &modules[first];
            return Err(MibError::At {
                file: file.clone(),
                line: module.line,
                message: format!("module {} is also defined in {first_file}", module.name),
            });
        }
        by_name.insert(module.name.as_str(), index);
    }
    let mut resolver = Resolver {
        modules,
        by_name,
        oids: HashMap::new(),
    };
    let mut set = MibSet::default();
    for (index, (file, module)) in modules.iter().enumerate() {
        set.modules.push((module.name.clone(), file.clone()));
        for def in &module.defs {
            let oid = resolver.oid(index, &def.name, def.line, 0)?;
            let kind = match &def.kind {
                RawKind::Node => Kind::Node,
                RawKind::Object(ty) => Kind::Object(resolver.syntax(index, ty, ty.line)?),
                RawKind::Notification(names, objects_line) => {
                    let mut objects = Vec::new();
                    for name in names {
                        let oid = resolver.oid(index, name, *objects_line, 0)?;
                        objects.push((name.clone(), Oid::from(oid)));
                    }
                    Kind::Notification {
                        objects,
                        objects_line: *objects_line,
                    }
                }
            };
            set.defs.push(Definition {
                module: module.name.clone(),
                name: def.name.clone(),
                file: file.clone(),
                line: def.line,
                oid: Oid::from(oid),
                kind,
            });
        }
    }
    let mut by_oid = BTreeMap::new();
    for (index, def) in set.defs.iter().enumerate() {
        by_oid.entry(def.oid.clone()).or_insert(index);
    }
    set.by_oid = by_oid;
    Ok(set)
}

impl Resolver<'_> {
    fn error(&self, module: usize, line: u32, message: String) -> MibError {
        MibError::At {
            file: self.modules[module].0.clone(),
            line,
            message,
        }
    }

    /// Where a name used in `module` is defined: the module itself, or the one it imports
    /// the name from. `line` is where it is used, for the error.
    fn home(&self, module: usize, name: &str) -> Result<Option<usize>, MibError> {
        let raw = &self.modules[module].1;
        if raw.defs.iter().any(|d| d.name == name) || raw.types.iter().any(|t| t.0 == name) {
            return Ok(Some(module));
        }
        match raw.imports.iter().find(|(symbol, _, _)| symbol == name) {
            Some((_, from, import_line)) => match self.by_name.get(from.as_str()) {
                Some(&home) => Ok(Some(home)),
                None => Err(self.error(
                    module,
                    *import_line,
                    format!(
                        "{} imports {name} from {from}, which none of the MIB files defines (give it with --mib)",
                        raw.name
                    ),
                )),
            },
            None => Ok(None),
        }
    }

    fn oid(
        &mut self,
        module: usize,
        name: &str,
        line: u32,
        depth: usize,
    ) -> Result<Vec<u32>, MibError> {
        if let Some(&(_, arc)) = ROOTS.iter().find(|(root, _)| *root == name) {
            return Ok(vec![arc]);
        }
        let module_name = &self.modules[module].1.name;
        if depth > MAX_DEPTH {
            return Err(self.error(
                module,
                line,
                format!("the OID of {name} refers back to itself"),
            ));
        }
        let home = match self.home(module, name)? {
            Some(home) => home,
            None => {
                return Err(self.error(
                    module,
                    line,
                    format!("{name} is neither defined in {module_name} nor imported"),
                ));
            }
        };
        if let Some(oid) = self.oids.get(&(home, name.to_owned())) {
            return Ok(oid.clone());
        }
        let Some(def) = self.modules[home].1.defs.iter().find(|d| d.name == name) else {
            return Err(self.error(
                module,
                line,
                format!(
                    "{name} is not an OID of {} (a type?)",
                    self.modules[home].1.name
                ),
            ));
        };
        let mut arcs = Vec::new();
        for (position, part) in def.oid.iter().enumerate() {
            match part {
                OidPart::Number(n) => arcs.push(*n),
                OidPart::Name(parent) if position == 0 => {
                    arcs = self.oid(home, parent, def.line, depth + 1)?;
                }
                OidPart::Name(_) => {}
            }
        }
        if arcs.len() < 2 || arcs.len() > 128 {
            return Err(self.error(
                home,
                def.line,
                format!("{name} resolves to an OID of {} arcs", arcs.len()),
            ));
        }
        self.oids.insert((home, name.to_owned()), arcs.clone());
        Ok(arcs)
    }

    /// An OBJECT-TYPE's SYNTAX, conventions followed to the SMI type.
    fn syntax(&self, module: usize, ty: &TypeExpr, line: u32) -> Result<Syntax, MibError> {
        let convention = match &ty.base {
            TypeBase::Named(name) if SmiType::application(name).is_none() => Some(name.clone()),
            _ => None,
        };
        let (base, size, range) = self.base(module, ty, line, 0)?;
        Ok(Syntax {
            text: ty.text.clone(),
            line: ty.line,
            base,
            convention,
            size,
            range,
        })
    }

    /// The SMI type and the innermost constraints (SIZE, range) of a type expression.
    fn base(
        &self,
        module: usize,
        ty: &TypeExpr,
        line: u32,
        depth: usize,
    ) -> Result<(SmiType, Bounds, Bounds), MibError> {
        let base = match &ty.base {
            TypeBase::OctetString => SmiType::OctetString,
            TypeBase::ObjectIdentifier => SmiType::ObjectIdentifier,
            TypeBase::Integer => SmiType::Integer,
            TypeBase::Bits => SmiType::Bits,
            TypeBase::Constructed => SmiType::Constructed,
            TypeBase::Named(name) => match SmiType::application(name) {
                Some(base) => base,
                None => {
                    if depth > MAX_DEPTH {
                        return Err(self.error(
                            module,
                            line,
                            format!("type {name} refers back to itself"),
                        ));
                    }
                    let home = self.home(module, name)?;
                    let found = home.and_then(|home| {
                        self.modules[home]
                            .1
                            .types
                            .iter()
                            .find(|t| &t.0 == name)
                            .map(|t| (home, t))
                    });
                    let Some((home, (_, type_line, inner))) = found else {
                        return Err(self.error(
                            module,
                            line,
                            format!(
                                "type {name} is neither defined in {} nor imported",
                                self.modules[module].1.name
                            ),
                        ));
                    };
                    let (base, size, range) = self.base(home, inner, *type_line, depth + 1)?;
                    return Ok((base, ty.size.clone().or(size), ty.range.clone().or(range)));
                }
            },
        };
        Ok((base, ty.size.clone(), ty.range.clone()))
    }
}
