//! Static types where they are known when the rules load: constants, operators, calls and
//! string interpolation always give the same kind of value, so a condition that is a string,
//! an `or` with a string operand or `count("site.devices")` is a mistake `check` reports,
//! instead of an error on the first audit or site. Paths and fallbacks (`??`, `default()`)
//! are known only at run time and are not judged here.

use super::Checker;
use crate::lang::ast::BinOp;
use crate::lang::diag::{Code, Diagnostic};
use crate::lang::program::{Builtin, Const, Node, NodeKind};

/// The kind of value an expression always gives, when the rules alone tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    Number,
    Text,
    Null,
    List,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "true or false",
            Kind::Number => "a number",
            Kind::Text => "a string",
            Kind::Null => "null",
            Kind::List => "a list",
        }
    }
}

/// The kind of value `node` always gives, or `None` when it depends on the data.
pub(super) fn kind_of(node: &Node) -> Option<Kind> {
    match &node.kind {
        NodeKind::Const(Const::Null) => Some(Kind::Null),
        NodeKind::Const(Const::Bool(_)) => Some(Kind::Bool),
        NodeKind::Const(Const::Number(_)) => Some(Kind::Number),
        NodeKind::Const(Const::Str(_)) | NodeKind::Interpolate(_) => Some(Kind::Text),
        NodeKind::Const(Const::Missing(_)) | NodeKind::Path(_) | NodeKind::JsonPath(..) => None,
        NodeKind::List(_) => Some(Kind::List),
        NodeKind::Not(_) => Some(Kind::Bool),
        NodeKind::Binary(BinOp::Coalesce, ..) => None,
        NodeKind::Binary(..) => Some(Kind::Bool),
        NodeKind::Call(builtin, _) => match builtin {
            Builtin::Count => Some(Kind::Number),
            Builtin::Join | Builtin::Lower | Builtin::Upper | Builtin::Trim => Some(Kind::Text),
            Builtin::Exists => Some(Kind::Bool),
            Builtin::Default | Builtin::Coalesce | Builtin::JsonPath => None,
        },
    }
}

impl Checker<'_> {
    fn wrong_kind(&mut self, node: &Node, found: Kind, message: String, help: &str) {
        self.report(
            Diagnostic::error(Code::E0220, node.span, message)
                .label(format!("this is {}", found.name()))
                .help(help.to_owned()),
        );
    }

    /// A condition (`when`, `where`, a `count` predicate, an operand of `and`/`or`/`not`).
    pub(super) fn require_bool(&mut self, node: &Node, what: &str) {
        match kind_of(node) {
            Some(Kind::Bool) | None => {}
            Some(Kind::Text) if matches!(node.kind, NodeKind::Const(Const::Str(_))) => self
                .wrong_kind(
                    node,
                    Kind::Text,
                    format!("{what} must be true or false, not a string"),
                    "compare it with something: `audit.source == \"STCHA\" or audit.source == \"STLNK\"`, \
                     or test several values at once: `audit.source in [\"STCHA\", \"STLNK\"]`",
                ),
            Some(found) => self.wrong_kind(
                node,
                found,
                format!("{what} must be true or false, not {}", found.name()),
                "compare it with something (`==`, `!=`, `<`, `in`), or test it with `exists()`",
            ),
        }
    }

    /// The operands of a binary operator, once both are built.
    pub(super) fn check_operands(&mut self, op: BinOp, lhs: &Node, rhs: &Node) {
        match op {
            BinOp::And | BinOp::Or => {
                let what = format!("each side of `{}`", op.symbol());
                self.require_bool(lhs, &what);
                self.require_bool(rhs, &what);
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                for side in [lhs, rhs] {
                    if let Some(found @ (Kind::Bool | Kind::Null | Kind::List)) = kind_of(side) {
                        self.wrong_kind(
                            side,
                            found,
                            format!(
                                "`{}` compares numbers or strings, not {}",
                                op.symbol(),
                                found.name()
                            ),
                            "compare numbers with numbers and strings with strings",
                        );
                    }
                }
                if let (
                    Some(a @ (Kind::Number | Kind::Text)),
                    Some(b @ (Kind::Number | Kind::Text)),
                ) = (kind_of(lhs), kind_of(rhs))
                    && a != b
                {
                    self.wrong_kind(
                        rhs,
                        b,
                        format!(
                            "`{}` compares {} with {}: they never order",
                            op.symbol(),
                            a.name(),
                            b.name()
                        ),
                        "compare numbers with numbers and strings with strings",
                    );
                }
            }
            BinOp::In => {
                if let Some(found @ (Kind::Bool | Kind::Number | Kind::Null)) = kind_of(rhs) {
                    self.wrong_kind(
                        rhs,
                        found,
                        format!(
                            "`in` needs a list or a string on its right, not {}",
                            found.name()
                        ),
                        "write the values as a list: `audit.source in [\"STCHA\", \"STLNK\"]`",
                    );
                }
            }
            BinOp::Eq | BinOp::Ne | BinOp::Coalesce => {}
        }
    }

    /// The arguments of a built-in function, once they are built.
    pub(super) fn check_arguments(&mut self, builtin: Builtin, args: &[Node]) {
        match builtin {
            Builtin::Count | Builtin::Join => {
                if let Some(first) = args.first()
                    && let Some(found @ (Kind::Bool | Kind::Number | Kind::Text | Kind::Null)) =
                        kind_of(first)
                {
                    let help = if matches!(first.kind, NodeKind::Const(Const::Str(_))) {
                        "name the list without quotes: `count(site.devices, .status == \"connected\")`"
                    } else {
                        "give it a list: a path such as `site.devices`, or `[a, b]`"
                    };
                    self.wrong_kind(
                        first,
                        found,
                        format!("{}() needs a list, not {}", builtin.name(), found.name()),
                        help,
                    );
                }
                if builtin == Builtin::Count
                    && let Some(predicate) = args.get(1)
                {
                    self.require_bool(predicate, "the predicate of count()");
                }
                if builtin == Builtin::Join
                    && let Some(separator) = args.get(1)
                    && let Some(found @ (Kind::List | Kind::Null)) = kind_of(separator)
                {
                    self.wrong_kind(
                        separator,
                        found,
                        format!("join() needs a string separator, not {}", found.name()),
                        "write the separator as a string: `join(list, \", \")`",
                    );
                }
            }
            Builtin::Lower | Builtin::Upper | Builtin::Trim => {
                if let Some(arg) = args.first()
                    && let Some(found @ (Kind::List | Kind::Null)) = kind_of(arg)
                {
                    self.wrong_kind(
                        arg,
                        found,
                        format!("{}() needs text, not {}", builtin.name(), found.name()),
                        "pick one value, or make text of a list with join()",
                    );
                }
            }
            Builtin::Default | Builtin::Coalesce | Builtin::Exists | Builtin::JsonPath => {}
        }
    }
}
