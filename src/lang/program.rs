//! The checked, compiled form of the rules the interpreter runs.
//!
//! Names are resolved here once (roots to [`Root`], functions to [`Builtin`], `env.*` to
//! constants, JSONPath queries to compiled queries), so evaluation does no lookups by name.

use jsonpath_rust::parser::model::JpQuery;
use std::sync::Arc;

use crate::lang::ast::{BinOp, Span};
use crate::record::{Oid, SnmpType};

#[derive(Debug, Default)]
pub struct Program {
    pub agents: Vec<AgentProgram>,
    pub traps: Vec<TrapProgram>,
    /// Which trap bindings can match which `audit.source`.
    pub trap_index: TrapIndex,
}

/// Trap bindings grouped by the audit code their condition requires, so an audit is only
/// tested against the bindings that can match it (and those whose condition does not name
/// a code). Skipping is exact: a condition `audit.source == "X" [and ...]` is false, without
/// evaluating the rest, for any other code.
#[derive(Debug, Default)]
pub struct TrapIndex {
    /// For each code a condition names: the bindings to evaluate, in rule order (those
    /// naming it merged with `always`).
    by_source: std::collections::HashMap<String, Vec<usize>>,
    /// Bindings whose condition does not pin `audit.source` to constants.
    always: Vec<usize>,
    /// Every binding, for audits without a source.
    all: Vec<usize>,
}

impl TrapIndex {
    pub fn build(traps: &[TrapProgram]) -> TrapIndex {
        let mut index = TrapIndex {
            all: (0..traps.len()).collect(),
            ..TrapIndex::default()
        };
        for (position, trap) in traps.iter().enumerate() {
            match required_sources(&trap.condition) {
                Some(codes) => {
                    for code in codes {
                        let slot = index.by_source.entry(code).or_default();
                        if slot.last() != Some(&position) {
                            slot.push(position);
                        }
                    }
                }
                None => index.always.push(position),
            }
        }
        // Merged once here rather than per audit: both lists are sorted and disjoint, and
        // rule order is their merge.
        for slot in index.by_source.values_mut() {
            slot.extend_from_slice(&index.always);
            slot.sort_unstable();
        }
        index
    }

    /// Positions of the bindings to evaluate for an audit with this `source`, in rule
    /// order; every binding when the source is unknown (so that errors are still reported).
    pub fn candidates(&self, source: Option<&str>) -> &[usize] {
        match source {
            None => &self.all,
            Some(source) => self.by_source.get(source).unwrap_or(&self.always),
        }
    }
}

/// The codes a condition requires `audit.source` to be one of, when it says so plainly:
/// `audit.source == "X"`, `audit.source in ["X", "Y"]`, or either as the left side of `and`.
fn required_sources(condition: &Node) -> Option<Vec<String>> {
    let is_source = |node: &Node| {
        matches!(&node.kind, NodeKind::Path(PathNode { root: Root::Document, segments, .. })
            if segments.as_slice() == [Seg::Key("source".to_owned())])
    };
    let constant = |node: &Node| match &node.kind {
        NodeKind::Const(Const::Str(code)) => Some(code.clone()),
        _ => None,
    };
    match &condition.kind {
        NodeKind::Binary(BinOp::Eq, lhs, rhs) if is_source(lhs) => constant(rhs).map(|c| vec![c]),
        NodeKind::Binary(BinOp::Eq, lhs, rhs) if is_source(rhs) => constant(lhs).map(|c| vec![c]),
        NodeKind::Binary(BinOp::In, lhs, rhs) if is_source(lhs) => match &rhs.kind {
            NodeKind::List(items) => items.iter().map(constant).collect(),
            _ => None,
        },
        NodeKind::Binary(BinOp::And, lhs, _) => required_sources(lhs),
        _ => None,
    }
}

#[derive(Debug)]
pub struct AgentProgram {
    pub name: String,
    pub span: Span,
    pub each: Each,
    /// Pandora attribute name (`agent_name`, `agent_alias`, `group`, ...) and its value.
    pub fields: Vec<(&'static str, Node)>,
    pub body: Vec<BodyStmt>,
}

/// One iteration: `for VAR in LIST [where FILTER]`; the variable lives in `slot`.
#[derive(Debug)]
pub struct Each {
    pub var: String,
    pub slot: usize,
    pub list: Node,
    pub filter: Option<Node>,
}

#[derive(Debug)]
pub enum BodyStmt {
    Module(ModuleProgram),
    For(Each, Vec<BodyStmt>),
}

#[derive(Debug)]
pub struct ModuleProgram {
    pub span: Span,
    pub name: Node,
    pub module_type: String,
    pub data: Node,
    pub fields: Vec<(String, Node)>,
}

#[derive(Debug)]
pub struct TrapProgram {
    pub name: Arc<str>,
    pub span: Span,
    pub condition: Node,
    pub oid: Oid,
    /// Where the binding names itself and its notification OID, for MIB diagnostics.
    pub name_span: Span,
    pub oid_span: Span,
    /// In index order.
    pub objects: Vec<ObjectProgram>,
}

#[derive(Debug)]
pub struct ObjectProgram {
    pub index: u32,
    pub name: Arc<str>,
    pub oid: Oid,
    pub snmp_type: SnmpType,
    pub value: Node,
    pub span: Span,
}

#[derive(Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug)]
pub enum NodeKind {
    Const(Const),
    Path(PathNode),
    Interpolate(Vec<Part>),
    List(Vec<Node>),
    Call(Builtin, Vec<Node>),
    JsonPath(Box<JpQuery>, Option<Box<Node>>),
    Not(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    /// A value known at load time to be absent (an unset `env.NAME` under `??`).
    Missing(String),
}

#[derive(Debug)]
pub enum Part {
    Text(String),
    Value(Node),
}

#[derive(Debug)]
pub struct PathNode {
    pub root: Root,
    pub segments: Vec<Seg>,
    /// The path as written, for errors and `explain`.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// The input document (`mist` for agent mappings, `audit` for trap bindings).
    Document,
    Param,
    Var(usize),
    /// The item a predicate looks at (`.status`).
    Item,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The built-in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Count,
    Join,
    Lower,
    Upper,
    Trim,
    Default,
    Coalesce,
    Exists,
    JsonPath,
}

impl Builtin {
    /// Every function with its name and the number of arguments it takes (min, max).
    pub const ALL: [(Builtin, &'static str, usize, usize); 9] = [
        (Builtin::Count, "count", 1, 2),
        (Builtin::Join, "join", 2, 2),
        (Builtin::Lower, "lower", 1, 1),
        (Builtin::Upper, "upper", 1, 1),
        (Builtin::Trim, "trim", 1, 1),
        (Builtin::Default, "default", 2, 2),
        (Builtin::Coalesce, "coalesce", 1, usize::MAX),
        (Builtin::Exists, "exists", 1, 1),
        (Builtin::JsonPath, "jsonpath", 1, 2),
    ];

    pub fn lookup(name: &str) -> Option<(Builtin, usize, usize)> {
        Self::ALL
            .iter()
            .find(|(_, n, _, _)| *n == name)
            .map(|(b, _, min, max)| (*b, *min, *max))
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _, _, _)| *b == self)
            .map(|(_, n, _, _)| *n)
            .unwrap_or("?")
    }

    /// The signature shown in diagnostics.
    pub fn signature(self) -> &'static str {
        match self {
            Builtin::Count => "count(list) or count(list, predicate)",
            Builtin::Join => "join(list, separator)",
            Builtin::Lower => "lower(text)",
            Builtin::Upper => "upper(text)",
            Builtin::Trim => "trim(text)",
            Builtin::Default => "default(value, fallback)",
            Builtin::Coalesce => "coalesce(value, ...)",
            Builtin::Exists => "exists(path)",
            Builtin::JsonPath => "jsonpath(\"$.query\") or jsonpath(value, \"$.query\")",
        }
    }
}
