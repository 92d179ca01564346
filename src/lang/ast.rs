//! The syntax tree of a rules file. It carries spans but no parser types, so the parser
//! could be replaced without touching the checker or the interpreter.

/// A byte range in one loaded source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: u32, start: usize, end: usize) -> Span {
        // Rule files are capped far below 4 GiB when loaded, so offsets fit in u32.
        Span {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Agent(AgentRule),
    Trap(TrapRule),
    Objects(ObjectsBlock),
}

impl Item {
    pub fn name(&self) -> &Ident {
        match self {
            Item::Agent(rule) => &rule.name,
            Item::Trap(rule) => &rule.name,
            Item::Objects(block) => &block.name,
        }
    }
}

/// `agent NAME for VAR in EXPR [where EXPR] { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRule {
    pub name: Ident,
    pub each: Iteration,
    pub body: Vec<AgentStmt>,
    pub span: Span,
}

/// `for VAR in EXPR [where EXPR]`
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    pub var: Ident,
    pub list: Expr,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentStmt {
    Field(Field),
    Module(ModuleDef),
    For(ForLoop),
}

/// `NAME = EXPR`
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `module NAME { fields }`
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleDef {
    pub name: Expr,
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForLoop {
    pub each: Iteration,
    pub body: Vec<AgentStmt>,
    pub span: Span,
}

/// `trap NAME when EXPR { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TrapRule {
    pub name: Ident,
    pub condition: Expr,
    pub body: Vec<TrapStmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TrapStmt {
    Oid(OidLiteral),
    Base(OidLiteral),
    Use(Ident),
    Object(ObjectDef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OidLiteral {
    pub text: String,
    pub span: Span,
}

/// `INDEX NAME [oid OID] [: TYPE] = EXPR`
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDef {
    pub index: u32,
    pub index_span: Span,
    pub name: Ident,
    pub oid: Option<OidLiteral>,
    pub snmp_type: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// `objects NAME { objects }`
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectsBlock {
    pub name: Ident,
    pub objects: Vec<ObjectDef>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Number(f64),
    Str(Vec<StrPart>),
    List(Vec<Expr>),
    Path(Path),
    /// `.key...` relative to the item a predicate looks at.
    RelPath(Vec<Segment>),
    Call(Ident, Vec<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(String),
    Interpolation(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: Ident,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Key(String, Span),
    Index(usize, Span),
}

impl Segment {
    pub fn span(&self) -> Span {
        match self {
            Segment::Key(_, span) | Segment::Index(_, span) => *span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Coalesce,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Coalesce => "??",
        }
    }
}

/// Writes a path back as rules text (`audit.detail.nameService`, `site["odd key"][0]`).
pub fn path_text(root: &str, segments: &[Segment]) -> String {
    let mut text = root.to_owned();
    for segment in segments {
        push_segment(&mut text, segment);
    }
    text
}

pub fn push_segment(text: &mut String, segment: &Segment) {
    match segment {
        Segment::Key(key, _) if is_plain_key(key) => {
            text.push('.');
            text.push_str(key);
        }
        Segment::Key(key, _) => {
            text.push_str(&format!("[{key:?}]"));
        }
        Segment::Index(index, _) => text.push_str(&format!("[{index}]")),
    }
}

fn is_plain_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
