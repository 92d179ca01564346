//! Trap bindings: conditions, objects, OIDs and SNMP types.

use std::collections::HashMap;

use super::{Checker, Flags, RuleKind, Scope};
use crate::lang::ast::{self, Span};
use crate::lang::diag::{Code, Diagnostic};
use crate::lang::program::*;
use crate::record::{MAX_OBJECT_INDEX, Oid, SnmpType};

impl<'a> Checker<'a> {
    pub(super) fn trap(&mut self, rule: &'a ast::TrapRule) -> Option<TrapProgram> {
        let errors_before = self.errors();
        let mut scope = Scope::new(RuleKind::Trap);
        let condition = self.expr(&rule.condition, &mut scope, Flags::default());
        if let Some(node) = &condition {
            self.require_bool(node, "a `when` condition");
        }
        let mut oid: Option<(Oid, Span)> = None;
        let mut base: Option<(Oid, Span)> = None;
        let mut objects: Vec<&ast::ObjectDef> = Vec::new();
        for stmt in &rule.body {
            match stmt {
                ast::TrapStmt::Oid(literal) | ast::TrapStmt::Base(literal) => {
                    let is_oid = matches!(stmt, ast::TrapStmt::Oid(_));
                    let slot = if is_oid { &mut oid } else { &mut base };
                    if let Some((_, first)) = slot {
                        let first = *first;
                        let word = if is_oid { "oid" } else { "base" };
                        self.report(
                            Diagnostic::error(
                                Code::E0214,
                                literal.span,
                                format!("`{word}` is given twice"),
                            )
                            .label("second value")
                            .related(first, "first value"),
                        );
                    } else if let Some(parsed) = self.oid(literal) {
                        *slot = Some((parsed, literal.span));
                    }
                }
                ast::TrapStmt::Use(name) => match self.blocks.get(&name.name) {
                    Some(block) => objects.extend(block.objects.iter()),
                    // One report per unknown name: a misspelt block definition would otherwise
                    // give an error at every `use` of the name it was meant to have.
                    None if !self.unknown_blocks.insert(name.name.clone()) => {}
                    None => {
                        let names: Vec<&str> = self.blocks.keys().map(String::as_str).collect();
                        self.report(
                            Diagnostic::error(
                                Code::E0208,
                                name.span,
                                format!("no objects block named `{}`", name.name),
                            )
                            .label("unknown block")
                            .suggest(&name.name, names),
                        );
                    }
                },
                ast::TrapStmt::Object(object) => objects.push(object),
            }
        }
        if oid.is_none() && self.errors() == errors_before {
            self.report(
                Diagnostic::error(
                    Code::E0213,
                    rule.name.span,
                    format!("trap binding `{}` has no `oid`", rule.name.name),
                )
                .label("which notification is this?")
                .help(
                    "add `oid 1.3.6.1.4.1.39059.1.0.N`: the NOTIFICATION-TYPE this binding sends",
                ),
            );
        }
        objects.sort_by_key(|o| o.index);
        let mut by_index: HashMap<u32, Span> = HashMap::new();
        let mut by_name: HashMap<&str, Span> = HashMap::new();
        let mut compiled = Vec::with_capacity(objects.len());
        let mut name_spans = Vec::with_capacity(objects.len());
        for object in &objects {
            if let Some(first) = by_index.insert(object.index, object.index_span) {
                self.report(
                    Diagnostic::error(
                        Code::E0209,
                        object.index_span,
                        format!(
                            "object index {} is used twice in `{}`",
                            object.index, rule.name.name
                        ),
                    )
                    .label("second object with this index")
                    .related(first, "first object with this index"),
                );
            }
            if let Some(first) = by_name.insert(&object.name.name, object.name.span) {
                self.report(
                    Diagnostic::error(
                        Code::E0209,
                        object.name.span,
                        format!(
                            "object `{}` appears twice in `{}`",
                            object.name.name, rule.name.name
                        ),
                    )
                    .label("second object with this name")
                    .related(first, "first object with this name"),
                );
            }
            let shape = self.object_shape(object);
            let value = self.expr(&object.value, &mut scope, Flags::default());
            let (Some((snmp_type, explicit_oid)), Some(value)) = (shape, value) else {
                continue;
            };
            let object_oid = match (explicit_oid, &base, &oid) {
                (Some(explicit), _, _) => explicit,
                (None, Some((base, _)), _) => base.child(object.index),
                (None, None, Some((trap_oid, _))) => trap_oid.child(object.index),
                (None, None, None) => continue,
            };
            self.constant_fits(&value, snmp_type);
            name_spans.push(object.name.span);
            compiled.push(ObjectProgram {
                index: object.index,
                name: object.name.name.as_str().into(),
                oid: object_oid,
                snmp_type,
                value,
                span: object.span,
            });
        }
        if self.errors() != errors_before {
            return None;
        }
        self.check_object_oids(&rule.name.name, &compiled, &name_spans);
        if let Some((oid, span)) = &oid {
            self.notification(oid, *span, &rule.name.name);
        }
        Some(TrapProgram {
            name: rule.name.name.as_str().into(),
            span: rule.span,
            condition: condition?,
            name_span: rule.name.span,
            oid_span: oid.as_ref()?.1,
            oid: oid?.0,
            objects: compiled,
        })
    }

    /// Index range, SNMP type and explicit OID of an object.
    pub(super) fn object_shape(
        &mut self,
        object: &ast::ObjectDef,
    ) -> Option<(SnmpType, Option<Oid>)> {
        let mut ok = true;
        if object.index == 0 || object.index > MAX_OBJECT_INDEX {
            ok = false;
            self.report(
                Diagnostic::error(Code::E0210, object.index_span, format!("object index must be from 1 to {MAX_OBJECT_INDEX}"))
                    .label("out of range")
                    .note("the index orders the objects in the notification, as \"1\"..\"7\" in the FledgePOWER configuration"),
            );
        }
        let snmp_type = match &object.snmp_type {
            None => SnmpType::OctetString,
            Some(ident) => match SnmpType::from_rule_name(&ident.name) {
                Some(t) => t,
                None => {
                    ok = false;
                    let names = SnmpType::ALL.map(|(_, n)| n);
                    self.report(
                        Diagnostic::error(
                            Code::E0204,
                            ident.span,
                            format!("unknown SNMP type `{}`", ident.name),
                        )
                        .label("not an SNMP type")
                        .suggest(&ident.name, names)
                        .note(format!("SNMP types: {}", names.join(", "))),
                    );
                    SnmpType::OctetString
                }
            },
        };
        let explicit = match &object.oid {
            Some(literal) => match self.oid(literal) {
                Some(oid) => Some(oid),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        ok.then_some((snmp_type, explicit))
    }

    pub(super) fn oid(&mut self, literal: &ast::OidLiteral) -> Option<Oid> {
        match literal.text.parse::<Oid>() {
            Ok(oid) => Some(oid),
            Err(error) => {
                self.report(
                    Diagnostic::error(
                        Code::E0102,
                        literal.span,
                        format!("malformed OID `{}`", literal.text),
                    )
                    .label(error.to_string())
                    .help(error.help()),
                );
                None
            }
        }
    }

    /// A constant value is checked against its SNMP type now rather than on every audit.
    pub(super) fn constant_fits(&mut self, value: &Node, snmp_type: SnmpType) {
        if let NodeKind::Const(constant @ (Const::Number(_) | Const::Str(_) | Const::Bool(_))) =
            &value.kind
            && let Err(message) = super::super::snmp_value::constant_as_snmp(constant, snmp_type)
        {
            self.report(
                Diagnostic::error(
                    Code::E0218,
                    value.span,
                    format!("this value cannot be {}", snmp_type.smi_name()),
                )
                .label(message)
                .help(range_help(constant, snmp_type)),
            );
        }
    }
}

/// What to do about a constant that does not fit its object's type: another type when one
/// fits, else what the type takes.
fn range_help(constant: &Const, snmp_type: SnmpType) -> String {
    let number = match constant {
        Const::Number(n) => Some(*n),
        Const::Str(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    match (snmp_type, number) {
        (SnmpType::Gauge32 | SnmpType::Counter32 | SnmpType::TimeTicks | SnmpType::Counter64, Some(n))
            if n < 0.0 =>
        {
            format!(
                "{} counts from 0; for values below 0 type the object `: integer`",
                snmp_type.smi_name()
            )
        }
        (SnmpType::Integer, Some(n)) if n > f64::from(i32::MAX) && n <= f64::from(u32::MAX) => {
            "for whole numbers up to 4294967295 type the object `: gauge32` (or `: counter64` beyond)"
                .to_owned()
        }
        (SnmpType::Integer | SnmpType::Gauge32 | SnmpType::Counter32, Some(n))
            if n > f64::from(u32::MAX) && n.fract() == 0.0 =>
        {
            "for whole numbers this large type the object `: counter64`".to_owned()
        }
        _ => format!("{} takes {}", snmp_type.smi_name(), snmp_type.accepts()),
    }
}
