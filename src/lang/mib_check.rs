//! Trap bindings against MIBs: every notification OID a NOTIFICATION-TYPE, every object
//! OID an OBJECT-TYPE whose SYNTAX the object's SNMP type encodes (and whose SIZE or range
//! a constant value fits), and the objects in the notification's OBJECTS order.
//!
//! Diagnostics point at the rule; notes name the MIB file and line, since MIB files are
//! not in the rules' source map.

use super::ast::Span;
use super::diag::{Code, Diagnostic};
use super::program::{Const, NodeKind, ObjectProgram, Part, TrapProgram};
use super::rule_set::RuleSet;
use crate::mib::{Definition, Kind, MibSet, Syntax};
use crate::record::{Oid, SnmpType};

impl RuleSet {
    /// Every disagreement between the trap bindings and the MIBs, in rule order.
    pub fn check_mibs(&self, mibs: &MibSet) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for trap in &self.program.traps {
            check_trap(trap, mibs, &mut out);
        }
        out
    }
}

/// `PMC-MIB.txt:57`
fn at(def: &Definition, line: u32) -> String {
    format!("{}:{line}", def.file)
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Node => "an OBJECT IDENTIFIER",
        Kind::Object(_) => "an OBJECT-TYPE",
        Kind::Notification { .. } => "a NOTIFICATION-TYPE",
    }
}

/// "the nearest definition is …" for an OID the MIBs do not define.
fn nearest_note(mibs: &MibSet, oid: &Oid) -> Option<String> {
    let parent = Oid::from(oid.arcs().get(..oid.arcs().len().saturating_sub(1))?);
    let nearest = mibs.nearest(&parent)?;
    Some(format!(
        "{}: the nearest definition is `{}` ({}), {}",
        at(nearest, nearest.line),
        nearest.name,
        nearest.oid,
        kind_name(&nearest.kind)
    ))
}

fn check_trap(trap: &TrapProgram, mibs: &MibSet, out: &mut Vec<Diagnostic>) {
    let notification = notification(trap, mibs, out);
    // The OBJECT-TYPE each object is an instance of, when it is one.
    let mut defs: Vec<Option<&Definition>> = Vec::with_capacity(trap.objects.len());
    for object in &trap.objects {
        let def = mibs
            .nearest(&object.oid)
            .filter(|d| matches!(d.kind, Kind::Object(_)));
        match def {
            Some(def) => {
                if let Kind::Object(syntax) = &def.kind {
                    check_syntax(trap, object, def, syntax, out);
                }
            }
            None => out.push(unknown_object(trap, object, mibs, notification)),
        }
        defs.push(def);
    }
    if let Some(notification) = notification {
        check_order(trap, notification, &defs, out);
    }
}

/// The NOTIFICATION-TYPE of the binding's OID, or the diagnostic why there is none.
fn notification<'m>(
    trap: &TrapProgram,
    mibs: &'m MibSet,
    out: &mut Vec<Diagnostic>,
) -> Option<&'m Definition> {
    let found = mibs.by_oid(&trap.oid);
    if let Some(def) = found.filter(|d| matches!(d.kind, Kind::Notification { .. })) {
        return Some(def);
    }
    let mut diagnostic = match found {
        Some(def) => Diagnostic::error(
            Code::E0401,
            trap.oid_span,
            format!(
                "notification OID {} of `{}` is `{}`, {}, not a NOTIFICATION-TYPE",
                trap.oid,
                trap.name,
                def.name,
                kind_name(&def.kind)
            ),
        )
        .label("not a notification")
        .note(format!(
            "{}: `{}` is defined here",
            at(def, def.line),
            def.name
        )),
        None => {
            let diagnostic = Diagnostic::error(
                Code::E0401,
                trap.oid_span,
                format!(
                    "notification OID {} of `{}` is not defined in the MIBs",
                    trap.oid, trap.name
                ),
            )
            .label("no NOTIFICATION-TYPE has this OID");
            match nearest_note(mibs, &trap.oid) {
                Some(note) => diagnostic.note(note),
                None => diagnostic,
            }
        }
    };
    let parent = Oid::from(
        trap.oid
            .arcs()
            .get(..trap.oid.arcs().len().saturating_sub(1))
            .unwrap_or(&[]),
    );
    let siblings: Vec<String> = mibs
        .children(&parent)
        .filter(|d| matches!(d.kind, Kind::Notification { .. }))
        .map(|d| format!("{} `{}`", d.oid, d.name))
        .collect();
    if !siblings.is_empty() {
        diagnostic = diagnostic.help(format!(
            "the notifications defined next to it are {}",
            shorten(&siblings)
        ));
    }
    out.push(diagnostic);
    None
}

/// A long list as its first and last items.
fn shorten(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [first, second] => format!("{first} and {second}"),
        [first, .., last] => format!("{first} … {last} ({} in all)", items.len()),
    }
}

fn unknown_object(
    trap: &TrapProgram,
    object: &ObjectProgram,
    mibs: &MibSet,
    notification: Option<&Definition>,
) -> Diagnostic {
    let (message, label, note) = match mibs.by_oid(&object.oid) {
        Some(def) => (
            format!(
                "object `{}` of `{}` has OID {}: `{}`, {}, not an OBJECT-TYPE",
                object.name,
                trap.name,
                object.oid,
                def.name,
                kind_name(&def.kind)
            ),
            "not an object",
            Some(format!(
                "{}: `{}` is defined here",
                at(def, def.line),
                def.name
            )),
        ),
        None => (
            format!(
                "object `{}` of `{}` has OID {}, which no OBJECT-TYPE of the MIBs defines",
                object.name, trap.name, object.oid
            ),
            "not defined in the MIBs",
            nearest_note(mibs, &object.oid),
        ),
    };
    let mut diagnostic = Diagnostic::error(Code::E0402, object_span(object), message).label(label);
    if let Some(note) = note {
        diagnostic = diagnostic.note(note);
    }
    // Objects are usually meant in OBJECTS order: name the one at this place.
    let position = trap.objects.iter().position(|o| o.index == object.index);
    if let (Some(def), Some(position)) = (notification, position)
        && let Kind::Notification { objects, .. } = &def.kind
        && let Some((name, oid)) = objects.get(position)
    {
        diagnostic = diagnostic.help(format!(
            "`{}`'s OBJECTS has `{name}` ({oid}) in this place",
            def.name
        ));
    }
    diagnostic
}

fn check_syntax(
    trap: &TrapProgram,
    object: &ObjectProgram,
    def: &Definition,
    syntax: &Syntax,
    out: &mut Vec<Diagnostic>,
) {
    let described = match &syntax.convention {
        Some(_) => format!("{}, an {}", syntax.text, syntax.base.name()),
        None => syntax.text.clone(),
    };
    let note = format!(
        "{}: `{}` SYNTAX {described}",
        at(def, syntax.line),
        def.name
    );
    let expected = syntax.base.snmp_type();
    if expected != Some(object.snmp_type) {
        let mut diagnostic = Diagnostic::error(
            Code::E0403,
            object_span(object),
            format!(
                "object `{}` of `{}` is sent as {}, but `{}` is {}",
                object.name,
                trap.name,
                object.snmp_type.smi_name(),
                def.name,
                syntax.text
            ),
        )
        .label(format!("`{}`", object.snmp_type.rule_name()))
        .note(note);
        if let Some(expected) = expected {
            diagnostic = diagnostic.help(format!(
                "declare it `{} {} : {} = …`",
                object.index,
                object.name,
                expected.rule_name()
            ));
        }
        out.push(diagnostic);
        return;
    }
    let (bounds, what, measured) = match (object.snmp_type, constant(object)) {
        (SnmpType::OctetString, Some(Constant::Text(text))) => {
            (&syntax.size, "SIZE", text.len() as i128)
        }
        (_, Some(Constant::Number(n))) if object.snmp_type != SnmpType::OctetString => {
            (&syntax.range, "range", n)
        }
        _ => return,
    };
    let Some(bounds) = bounds else { return };
    if bounds
        .iter()
        .any(|(lo, hi)| *lo <= measured && measured <= *hi)
    {
        return;
    }
    let (message, label) = if what == "SIZE" {
        (
            format!(
                "the value of `{}` is {measured} octets, outside the SIZE of `{}`",
                object.name, def.name
            ),
            format!("{measured} octets"),
        )
    } else {
        (
            format!(
                "the value of `{}` is {measured}, outside the range of `{}`",
                object.name, def.name
            ),
            format!("{measured}"),
        )
    };
    out.push(
        Diagnostic::error(Code::E0404, object.value.span, message)
            .label(label)
            .note(note),
    );
}

enum Constant {
    Text(String),
    Number(i128),
}

/// The object's value when the rules fix it: a literal, or an interpolation of text only.
fn constant(object: &ObjectProgram) -> Option<Constant> {
    match &object.value.kind {
        NodeKind::Const(Const::Str(text)) => Some(Constant::Text(text.clone())),
        NodeKind::Const(Const::Number(n)) if n.fract() == 0.0 && n.is_finite() => {
            Some(Constant::Number(*n as i128))
        }
        NodeKind::Interpolate(parts) => parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => Some(text.as_str()),
                Part::Value(_) => None,
            })
            .collect::<Option<String>>()
            .map(Constant::Text),
        _ => None,
    }
}

/// Objects must come as the notification's OBJECTS list them: all of them, in that order,
/// other objects only after them (RFC 3416, 4.2.6).
fn check_order(
    trap: &TrapProgram,
    notification: &Definition,
    defs: &[Option<&Definition>],
    out: &mut Vec<Diagnostic>,
) {
    let Kind::Notification {
        objects: expected,
        objects_line,
    } = &notification.kind
    else {
        return;
    };
    let listed = expected
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let objects_note = format!(
        "{}: `{}` OBJECTS {{ {listed} }}",
        at(notification, *objects_line),
        notification.name
    );
    let place = |def: &Definition| expected.iter().position(|(_, oid)| *oid == def.oid);
    // Objects that are OBJECT-TYPEs (the others are reported already), with their place
    // in OBJECTS if they have one.
    let entries: Vec<(&ObjectProgram, &Definition, Option<usize>)> = trap
        .objects
        .iter()
        .zip(defs)
        .filter_map(|(object, def)| def.map(|def| (object, def, place(def))))
        .collect();
    for (object, def, position) in &entries {
        if position.is_none() {
            out.push(
                Diagnostic::warning(
                    Code::W0401,
                    object_span(object),
                    format!(
                        "object `{}` (`{}`) is not in `{}`'s OBJECTS",
                        object.name, def.name, notification.name
                    ),
                )
                .label("an extra varbind")
                .note(objects_note.clone())
                .help("SNMP allows extra objects after the OBJECTS ones; managers may ignore them"),
            );
        }
    }
    // The first object that comes before one it should follow.
    let misplaced = entries
        .iter()
        .enumerate()
        .find_map(|(i, (object, def, position))| {
            entries[i + 1..]
                .iter()
                .find_map(|(_, later, later_position)| {
                    let later_position = (*later_position)?;
                    position.is_none_or(|p| p > later_position).then_some((
                        object,
                        def,
                        position,
                        later,
                        later_position,
                    ))
                })
        });
    if let Some((object, def, position, later, later_position)) = misplaced {
        let what = match position {
            Some(p) => format!("`{}` is object {} of OBJECTS", def.name, p + 1),
            None => format!("`{}` is not in OBJECTS", def.name),
        };
        out.push(
            Diagnostic::error(
                Code::E0405,
                object_span(object),
                format!(
                    "objects of `{}` are not in the order of `{}`'s OBJECTS",
                    trap.name, notification.name
                ),
            )
            .label(format!(
                "{what}, but `{}` (object {}) comes after it",
                later.name,
                later_position + 1
            ))
            .note(objects_note.clone())
            .help(
                "managers read varbinds by position: give the objects indexes in OBJECTS order, other objects after them",
            ),
        );
    }
    let sent: Vec<&Oid> = defs.iter().flatten().map(|d| &d.oid).collect();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|(_, oid)| !sent.contains(&oid))
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        let names = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(
            Diagnostic::error(
                Code::E0406,
                trap.name_span,
                format!(
                    "`{}` does not send {names}, which `{}` lists in OBJECTS",
                    trap.name, notification.name
                ),
            )
            .label(format!("sends {}", notification.name))
            .note(objects_note),
        );
    }
}

/// An object from its index to the end of its value (its own span runs on to the next line).
fn object_span(object: &ObjectProgram) -> Span {
    Span {
        end: object.value.span.end.max(object.span.start),
        ..object.span
    }
}
