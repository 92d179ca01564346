//! The audit step every command shares: one normalised audit through the trap bindings.
//! `trap send`, `render`/`explain`, `monbridge test` and the daemon's intakes all call it, so
//! they agree on what an audit made and on how it counts.
//!
//! The partial-failure rule: every binding that evaluates gives its notification (sent or
//! queued by the caller); the errors of the bindings that fail are recorded with the audit
//! (the reject file, the dead-letter file); and an audit with any failed binding counts as
//! rejected (dead-lettered), not as matched. So each audit counts once: matched, unmatched or
//! rejected.

use serde_json::Value;

use crate::lang::{EvalError, Explained, Params, RuleSet};
use crate::record::Trap;

/// What the trap bindings made of one audit.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T = Trap> {
    /// No binding's condition holds.
    Unmatched,
    /// Some did: the notifications of the bindings that evaluated, in rule order, and the
    /// errors of those that did not. Matched with errors counts as rejected.
    Matched {
        notifications: Vec<T>,
        errors: Vec<EvalError>,
    },
}

impl<T> Outcome<T> {
    /// The same outcome with each notification passed through `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Unmatched => Outcome::Unmatched,
            Outcome::Matched {
                notifications,
                errors,
            } => Outcome::Matched {
                notifications: notifications.into_iter().map(f).collect(),
                errors,
            },
        }
    }
}

/// Runs every trap binding over `audit`.
pub fn evaluate(rules: &RuleSet, params: &Params, audit: &Value) -> Outcome {
    split(rules.traps(audit, params))
}

/// [`evaluate`], with every object of every notification explained.
pub fn explain(rules: &RuleSet, params: &Params, audit: &Value) -> Outcome<(Trap, Vec<Explained>)> {
    split(rules.explain_traps(audit, params))
}

fn split<T>(results: Vec<Result<T, EvalError>>) -> Outcome<T> {
    if results.is_empty() {
        return Outcome::Unmatched;
    }
    let mut notifications = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(notification) => notifications.push(notification),
            Err(error) => errors.push(error),
        }
    }
    Outcome::Matched {
        notifications,
        errors,
    }
}

/// How log lines name an audit: `audit 3 (STLNK)` with its position in the input,
/// `audit STLNK` without; `audit 3` or `audit` for an audit without a code.
pub fn label(number: Option<usize>, audit: &Value) -> String {
    let code = audit.get("source").and_then(Value::as_str);
    match (number, code) {
        (Some(number), Some(code)) => format!("audit {number} ({code})"),
        (Some(number), None) => format!("audit {number}"),
        (None, Some(code)) => format!("audit {code}"),
        (None, None) => "audit".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> RuleSet {
        let text = "trap good when audit.source == \"STLNK\" {\n\
                    oid 1.3.6.1.4.1.99.0.1\n    base 1.3.6.1.4.1.99.1\n\
                    1 name = audit.detail.name\n}\n\
                    trap bad when audit.source == \"STLNK\" {\n\
                    oid 1.3.6.1.4.1.99.0.2\n    base 1.3.6.1.4.1.99.1\n\
                    1 name = audit.detail.missing\n}\n";
        RuleSet::from_sources(vec![("t.rules".into(), text.into())], &Default::default())
            .unwrap_or_else(|e| panic!("{}", e.render(false)))
    }

    #[test]
    fn a_binding_that_fails_leaves_the_others_and_is_reported() {
        let audit = json!({"source": "STLNK", "severity": "WARNING", "detail": {"name": "x"}});
        let Outcome::Matched {
            notifications,
            errors,
        } = evaluate(&rules(), &Params::new(), &audit)
        else {
            panic!("no binding matched");
        };
        assert_eq!(notifications.len(), 1);
        assert_eq!(&*notifications[0].rule, "good");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("missing"), "{}", errors[0]);

        let Outcome::Matched {
            notifications,
            errors,
        } = explain(&rules(), &Params::new(), &audit)
        else {
            panic!("no binding matched");
        };
        assert_eq!((notifications.len(), errors.len()), (1, 1));
        assert!(!notifications[0].1.is_empty());
    }

    #[test]
    fn an_audit_no_binding_matches_is_unmatched() {
        let audit = json!({"source": "PURGE", "severity": "INFORMATION", "detail": {}});
        assert_eq!(
            evaluate(&rules(), &Params::new(), &audit),
            Outcome::Unmatched
        );
    }

    #[test]
    fn labels_name_the_position_and_the_code() {
        let audit = json!({"source": "STLNK"});
        assert_eq!(label(Some(3), &audit), "audit 3 (STLNK)");
        assert_eq!(label(None, &audit), "audit STLNK");
        assert_eq!(label(Some(3), &json!({})), "audit 3");
        assert_eq!(label(None, &json!({})), "audit");
    }
}
