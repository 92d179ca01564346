//! Consistency warnings: rules that load and run, but very likely not as meant. They do not
//! stop the rules from loading; `monbridge check --deny-warnings` makes them fail.

use std::collections::HashMap;

use super::Checker;
use crate::lang::ast::{BinOp, Span};
use crate::lang::diag::{Code, Diagnostic, did_you_mean};
use crate::lang::program::{Const, Node, NodeKind, ObjectProgram, PathNode, Root, Seg};
use crate::record::Oid;

/// Audit codes Fledge knows: its own `log_codes` seed and the codes FledgePOWER adds. Codes are
/// `CHAR(5)`; families Fledge extends over releases are matched by their prefix.
const KNOWN_AUDIT_CODES: [&str; 43] = [
    "PURGE", "LOGGN", "STRMN", "SYPRG", "START", "FSTOP", "CONCH", "CONAD", "SCHCH", "SCHAD",
    "SRVRG", "SRVUN", "SRVFL", "SRVRS", "NHCOM", "NHDWN", "NHAVL", "UPEXC", "BKEXC", "NTFDL",
    "NTFAD", "NTFSN", "NTFCL", "NTFST", "NTFSD", "PKGIN", "PKGUP", "PKGRM", "DSPST", "DSPSD",
    "ESSRT", "ESSTP", "ASTDP", "ASTUN", "PIPIN", "AUMRK", "STLNK", "STCHA", "STSRV", "SNAUF",
    "EVTIF", "EVTWA", "EVTFA",
];
const KNOWN_AUDIT_FAMILIES: [&str; 7] = ["USR", "ACL", "CTS", "CTP", "CTE", "BUC", "NTF"];

fn is_known_code(code: &str) -> bool {
    KNOWN_AUDIT_CODES.contains(&code)
        || (code.len() == 5
            && code.bytes().all(|b| b.is_ascii_uppercase())
            && KNOWN_AUDIT_FAMILIES
                .iter()
                .any(|family| code.starts_with(family)))
}

fn is_audit_source(node: &Node) -> bool {
    matches!(&node.kind, NodeKind::Path(PathNode { root: Root::Document, segments, .. })
        if segments.as_slice() == [Seg::Key("source".to_owned())])
}

impl Checker<'_> {
    /// `audit.source == "STLINK"`, `audit.source in ["STLNK", "STCHAN"]`: a code Fledge never
    /// writes makes the binding silently match nothing.
    pub(super) fn check_audit_codes(&mut self, op: BinOp, lhs: &Node, rhs: &Node) {
        let constants: Vec<&Node> = match (op, is_audit_source(lhs), is_audit_source(rhs)) {
            (BinOp::Eq | BinOp::Ne, true, _) => vec![rhs],
            (BinOp::Eq | BinOp::Ne, _, true) => vec![lhs],
            (BinOp::In, true, _) => match &rhs.kind {
                NodeKind::List(items) => items.iter().collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for node in constants {
            let NodeKind::Const(Const::Str(code)) = &node.kind else {
                continue;
            };
            if is_known_code(code) {
                continue;
            }
            let mut warning = Diagnostic::warning(
                Code::W0203,
                node.span,
                format!("Fledge writes no audit code `{code}`"),
            )
            .label("this binding never matches it");
            warning = match did_you_mean(code, KNOWN_AUDIT_CODES) {
                Some(best) => warning.help(format!("did you mean `{best}`?")),
                None if code.len() != 5 => {
                    warning.note("audit codes are five capital letters (`log_codes.code` is CHAR(5))")
                }
                None => warning.note(
                    "a code of your own must be added to Fledge's `log_codes` table before any audit carries it",
                ),
            };
            self.report(warning);
        }
    }

    /// Two objects of one notification with the same OID: the manager sees one value twice
    /// and the other object never.
    /// `name_spans` holds where each object's name is written, in the order of `objects`.
    pub(super) fn check_object_oids(
        &mut self,
        trap: &str,
        objects: &[ObjectProgram],
        name_spans: &[Span],
    ) {
        let mut seen: HashMap<&Oid, (&ObjectProgram, Span)> = HashMap::new();
        for (object, &span) in objects.iter().zip(name_spans) {
            if let Some((first, first_span)) = seen.insert(&object.oid, (object, span)) {
                self.report(
                    Diagnostic::warning(
                        Code::W0201,
                        span,
                        format!(
                            "objects `{}` and `{}` of `{trap}` have the same OID {}",
                            first.name, object.name, object.oid
                        ),
                    )
                    .label("same OID as an earlier object")
                    .related(first_span, "first object with this OID")
                    .help("give one of them another index, or its own `oid`"),
                );
            }
        }
    }

    /// Remembers a binding's notification OID for [`Checker::shared_notifications`].
    pub(super) fn notification(&mut self, oid: &Oid, span: Span, trap: &str) {
        self.notifications
            .push((oid.clone(), span, trap.to_owned()));
    }

    /// Two bindings that send the same notification OID: a manager cannot tell them apart.
    pub(super) fn shared_notifications(&mut self) {
        let mut seen: HashMap<Oid, (Span, String)> = HashMap::new();
        let notifications = std::mem::take(&mut self.notifications);
        for (oid, span, trap) in notifications {
            match seen.get(&oid) {
                Some((first_span, first)) => {
                    let warning = Diagnostic::warning(
                        Code::W0202,
                        span,
                        format!("`{trap}` sends the same notification OID as `{first}`"),
                    )
                    .label("already sent by another binding")
                    .related(*first_span, format!("`{first}` sends {oid}"))
                    .help(
                        "give each binding its own NOTIFICATION-TYPE, or merge the two conditions",
                    );
                    self.report(warning);
                }
                None => {
                    seen.insert(oid, (span, trap));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_known_by_name_or_family() {
        assert!(is_known_code("STLNK"));
        assert!(is_known_code("USRAD"));
        assert!(!is_known_code("STLINK"));
        assert!(!is_known_code("USR"));
        assert!(!is_known_code("stlnk"));
    }
}
