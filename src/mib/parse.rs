//! One MIB file's modules as written: names, imports, OID assignments, object syntaxes,
//! notification objects and type assignments. Nothing is resolved here.
//!
//! Tolerant by design: clauses it does not need (DESCRIPTION, INDEX, DEFVAL, …) are
//! skipped, SMIv1 TRAP-TYPEs and MACRO definitions too. It fails, with the line, only on
//! what it cannot step over: unbalanced brackets, a definition without `::=`, a module
//! without `BEGIN`/`END`.

use super::MibError;
use super::lex::{Tok, Token, tokens};

#[derive(Debug, Clone)]
pub struct RawModule {
    pub name: String,
    pub line: u32,
    /// Symbol → (module it comes from, line of the FROM clause).
    pub imports: Vec<(String, String, u32)>,
    pub defs: Vec<RawDef>,
    /// Type assignments and textual conventions: name, line, type.
    pub types: Vec<(String, u32, TypeExpr)>,
}

#[derive(Debug, Clone)]
pub struct RawDef {
    pub name: String,
    pub line: u32,
    /// `{ parent 1 2 }`: the first element a name or a number, the rest numbers.
    pub oid: Vec<OidPart>,
    pub kind: RawKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OidPart {
    Name(String),
    Number(u32),
}

#[derive(Debug, Clone)]
pub enum RawKind {
    /// OBJECT IDENTIFIER, MODULE-IDENTITY, OBJECT-IDENTITY, groups, compliances.
    Node,
    Object(TypeExpr),
    /// The OBJECTS names and the line of the OBJECTS clause.
    Notification(Vec<String>, u32),
}

/// A SYNTAX or the right side of a type assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub base: TypeBase,
    pub size: Option<Vec<(i128, i128)>>,
    pub range: Option<Vec<(i128, i128)>>,
    /// As written, whitespace collapsed: `SnmpAdminString (SIZE (0..255))`.
    pub text: String,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeBase {
    OctetString,
    ObjectIdentifier,
    Integer,
    Bits,
    /// SEQUENCE, SEQUENCE OF, CHOICE: rows and the SMI's own plumbing, never a varbind.
    Constructed,
    Named(String),
}

/// Every module of one file.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<RawModule>, MibError> {
    let toks = tokens(file, text)?;
    let mut parser = Parser {
        file,
        text,
        toks: &toks,
        pos: 0,
    };
    let mut modules = Vec::new();
    while parser.pos < toks.len() {
        modules.push(parser.module()?);
    }
    if modules.is_empty() {
        return Err(parser.error(1, "no module: expected `NAME DEFINITIONS ::= BEGIN`"));
    }
    Ok(modules)
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
    toks: &'a [Token],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, line: u32, message: impl Into<String>) -> MibError {
        MibError::At {
            file: self.file.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    /// Line of the current token, or of the last one at the end of the file.
    fn line(&self) -> u32 {
        self.peek()
            .or(self.toks.last())
            .map(|t| t.line)
            .unwrap_or(1)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let token = self.toks.get(self.pos);
        self.pos += 1;
        token
    }

    fn expect_word(&mut self, what: &str) -> Result<(String, u32), MibError> {
        let line = self.line();
        match self.next() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) => Ok((w.clone(), line)),
            _ => Err(self.error(line, format!("expected {what}"))),
        }
    }

    fn expect_punct(&mut self, punct: &str, context: &str) -> Result<(), MibError> {
        let line = self.line();
        match self.next() {
            Some(t) if t.is_punct(punct) => Ok(()),
            _ => Err(self.error(line, format!("expected `{punct}` {context}"))),
        }
    }

    fn module(&mut self) -> Result<RawModule, MibError> {
        let (name, line) = self.expect_word("a module name (`NAME DEFINITIONS ::= BEGIN`)")?;
        let at = self.line();
        if !self.next().is_some_and(|t| t.is_word("DEFINITIONS")) {
            return Err(self.error(at, format!("expected `DEFINITIONS` after `{name}`")));
        }
        self.expect_punct("::=", "after `DEFINITIONS`")?;
        let at = self.line();
        if !self.next().is_some_and(|t| t.is_word("BEGIN")) {
            return Err(self.error(at, "expected `BEGIN`"));
        }
        let mut module = RawModule {
            name,
            line,
            imports: Vec::new(),
            defs: Vec::new(),
            types: Vec::new(),
        };
        loop {
            let Some(token) = self.peek() else {
                return Err(self.error(self.line(), format!("module {} has no `END`", module.name)));
            };
            let line = token.line;
            match token.word() {
                Some("END") => {
                    self.pos += 1;
                    return Ok(module);
                }
                Some("IMPORTS") => {
                    self.pos += 1;
                    self.imports(&mut module)?;
                }
                Some("EXPORTS") => {
                    self.skip_past(";", line)?;
                }
                Some(name) => {
                    let name = name.to_owned();
                    self.pos += 1;
                    self.definition(&mut module, name, line)?;
                }
                None => return Err(self.error(line, "expected a definition or `END`")),
            }
        }
    }

    /// `a, b FROM M1 c FROM M2 ;`
    fn imports(&mut self, module: &mut RawModule) -> Result<(), MibError> {
        let mut pending = Vec::new();
        loop {
            let line = self.line();
            match self.next().map(|t| t.tok.clone()) {
                Some(Tok::Punct(";")) => break,
                Some(Tok::Punct(",")) => {}
                Some(Tok::Word(w)) if w == "FROM" => {
                    let (from, _) = self.expect_word("a module name after FROM")?;
                    for symbol in pending.drain(..) {
                        module.imports.push((symbol, from.clone(), line));
                    }
                }
                Some(Tok::Word(w)) => pending.push(w),
                _ => return Err(self.error(line, "IMPORTS not closed by `;`")),
            }
        }
        if !pending.is_empty() {
            return Err(self.error(self.line(), "IMPORTS names symbols without FROM"));
        }
        Ok(())
    }

    fn definition(
        &mut self,
        module: &mut RawModule,
        name: String,
        line: u32,
    ) -> Result<(), MibError> {
        if self.peek().is_some_and(|t| t.is_word("MACRO")) {
            // The SMI's own macro definitions: nothing a varbind needs.
            while let Some(token) = self.next() {
                if token.is_word("END") {
                    return Ok(());
                }
            }
            return Err(self.error(line, format!("MACRO {name} has no `END`")));
        }
        if self.peek().is_some_and(|t| t.is_punct("::=")) {
            self.pos += 1;
            if self.peek().is_some_and(|t| t.is_word("TEXTUAL-CONVENTION")) {
                self.pos += 1;
                while !self.peek().is_some_and(|t| t.is_word("SYNTAX")) {
                    if self.next().is_none() {
                        return Err(self.error(line, format!("{name} has no SYNTAX")));
                    }
                }
                self.pos += 1;
            }
            let ty = self.type_expr()?;
            module.types.push((name, line, ty));
            return Ok(());
        }
        let macro_name = self.peek().and_then(Token::word).unwrap_or("").to_owned();
        let clauses_start = self.pos;
        let mut depth = 0usize;
        loop {
            match self.next() {
                None => return Err(self.error(line, format!("{name}: no `::=` before the end"))),
                Some(t) if t.is_punct("::=") && depth == 0 => break,
                Some(t) if t.is_punct("{") || t.is_punct("(") => depth += 1,
                Some(t) if t.is_punct("}") || t.is_punct(")") => {
                    depth = depth.checked_sub(1).ok_or_else(|| {
                        self.error(t.line, format!("unbalanced `{}`", token_text(t)))
                    })?;
                }
                Some(t) if t.is_word("END") || t.is_word("MACRO") => {
                    return Err(self.error(
                        t.line,
                        format!("{name}: no `::=` before `{}`", token_text(t)),
                    ));
                }
                Some(_) => {}
            }
        }
        let clauses_end = self.pos - 1;
        if macro_name == "TRAP-TYPE" {
            // SMIv1: `::= number`, not an OID; PMC-MIB and the checks are SMIv2.
            self.pos += 1;
            return Ok(());
        }
        let oid = self.oid_value(&name, line)?;
        let kind = match macro_name.as_str() {
            "OBJECT-TYPE" => {
                let syntax = (clauses_start..clauses_end)
                    .find(|&i| self.toks[i].is_word("SYNTAX"))
                    .ok_or_else(|| self.error(line, format!("OBJECT-TYPE {name} has no SYNTAX")))?;
                let after = self.pos;
                self.pos = syntax + 1;
                let ty = self.type_expr()?;
                self.pos = after;
                RawKind::Object(ty)
            }
            "NOTIFICATION-TYPE" => {
                let objects =
                    (clauses_start..clauses_end).find(|&i| self.toks[i].is_word("OBJECTS"));
                match objects {
                    Some(i) => {
                        let after = self.pos;
                        self.pos = i + 1;
                        let objects_line = self.toks[i].line;
                        let names = self.name_list(&name)?;
                        self.pos = after;
                        RawKind::Notification(names, objects_line)
                    }
                    None => RawKind::Notification(Vec::new(), line),
                }
            }
            _ => RawKind::Node,
        };
        module.defs.push(RawDef {
            name,
            line,
            oid,
            kind,
        });
        Ok(())
    }

    /// `{ a, b, c }`
    fn name_list(&mut self, owner: &str) -> Result<Vec<String>, MibError> {
        self.expect_punct("{", &format!("after OBJECTS of {owner}"))?;
        let mut names = Vec::new();
        loop {
            let line = self.line();
            match self.next().map(|t| t.tok.clone()) {
                Some(Tok::Punct("}")) => return Ok(names),
                Some(Tok::Punct(",")) => {}
                Some(Tok::Word(w)) => names.push(w),
                _ => {
                    return Err(self.error(
                        line,
                        format!("OBJECTS of {owner}: expected names in `{{ }}`"),
                    ));
                }
            }
        }
    }

    /// `{ parent 3 }`, `{ iso org(3) dod(6) 1 }`.
    fn oid_value(&mut self, name: &str, line: u32) -> Result<Vec<OidPart>, MibError> {
        let open_line = self.line();
        self.expect_punct("{", &format!("after `{name} ... ::=` (an OID value)"))?;
        let mut parts = Vec::new();
        loop {
            let at = self.line();
            match self.next().map(|t| t.tok.clone()) {
                Some(Tok::Punct("}")) => break,
                Some(Tok::Number(n)) => parts.push(OidPart::Number(arc(n).ok_or_else(|| {
                    self.error(at, format!("OID arc {n} of {name} is out of range"))
                })?)),
                Some(Tok::Word(w)) if w == "END" => {
                    return Err(self.error(line, format!("{name}: OID value not closed by `}}`")));
                }
                Some(Tok::Word(w)) => {
                    if self.peek().is_some_and(|t| t.is_punct("(")) {
                        self.pos += 1;
                        let number = match self.next().map(|t| t.tok.clone()) {
                            Some(Tok::Number(n)) => arc(n),
                            _ => None,
                        };
                        let number = number.ok_or_else(|| {
                            self.error(at, format!("{name}: expected `{w}(NUMBER)`"))
                        })?;
                        self.expect_punct(")", &format!("after `{w}({number}`"))?;
                        parts.push(OidPart::Number(number));
                    } else if parts.is_empty() {
                        parts.push(OidPart::Name(w));
                    } else {
                        // Most often the next definition, after a missing `}`.
                        return Err(self.error(
                            open_line,
                            format!(
                                "{name}: OID value not closed by `}}` (or `{w}`, on line {at}, without its number `{w}(N)`)"
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(self.error(
                        at,
                        format!("{name}: an OID value is names and numbers in `{{ }}`"),
                    ));
                }
            }
        }
        if parts.is_empty() {
            return Err(self.error(line, format!("{name}: empty OID value")));
        }
        Ok(parts)
    }

    /// A type: optional tag, the base, named numbers, a SIZE or range constraint.
    fn type_expr(&mut self) -> Result<TypeExpr, MibError> {
        let line = self.line();
        let start = self.peek().map(|t| t.start).unwrap_or(self.text.len());
        if self.peek().is_some_and(|t| t.is_punct("[")) {
            self.skip_balanced("[", "]")?;
        }
        while self
            .peek()
            .is_some_and(|t| t.is_word("IMPLICIT") || t.is_word("EXPLICIT"))
        {
            self.pos += 1;
        }
        let (word, _) = self.expect_word("a type")?;
        let base = match word.as_str() {
            "OCTET" => {
                self.keyword("STRING", "after OCTET")?;
                TypeBase::OctetString
            }
            "OBJECT" => {
                self.keyword("IDENTIFIER", "after OBJECT")?;
                TypeBase::ObjectIdentifier
            }
            "INTEGER" => TypeBase::Integer,
            "BITS" => TypeBase::Bits,
            "SEQUENCE" if self.peek().is_some_and(|t| t.is_word("OF")) => {
                self.pos += 1;
                self.expect_word("a type after SEQUENCE OF")?;
                TypeBase::Constructed
            }
            "SEQUENCE" | "CHOICE" => TypeBase::Constructed,
            _ => TypeBase::Named(word),
        };
        if self.peek().is_some_and(|t| t.is_punct("{")) {
            self.skip_balanced("{", "}")?;
        }
        let mut size = None;
        let mut range = None;
        if self.peek().is_some_and(|t| t.is_punct("(")) {
            let open = self.pos;
            self.skip_balanced("(", ")")?;
            let inner = &self.toks[open + 1..self.pos - 1];
            match inner.first() {
                Some(t) if t.is_word("SIZE") => size = Some(ranges(inner.get(1..).unwrap_or(&[]))),
                _ => range = Some(ranges(inner)),
            }
        }
        let end = self
            .toks
            .get(self.pos.wrapping_sub(1))
            .map(|t| t.end)
            .unwrap_or(start);
        let text = self
            .text
            .get(start..end)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(TypeExpr {
            base,
            size,
            range,
            text,
            line,
        })
    }

    fn keyword(&mut self, word: &str, context: &str) -> Result<(), MibError> {
        let line = self.line();
        match self.next() {
            Some(t) if t.is_word(word) => Ok(()),
            _ => Err(self.error(line, format!("expected {word} {context}"))),
        }
    }

    /// Skips from an opening bracket (the current token) past its closing one.
    fn skip_balanced(&mut self, open: &str, close: &str) -> Result<(), MibError> {
        let line = self.line();
        let mut depth = 0usize;
        while let Some(token) = self.next() {
            if token.is_punct(open) {
                depth += 1;
            } else if token.is_punct(close) {
                depth -= 1;
                if depth == 0 {
                    return Ok(());
                }
            }
        }
        Err(self.error(line, format!("`{open}` is never closed")))
    }

    fn skip_past(&mut self, punct: &str, line: u32) -> Result<(), MibError> {
        while let Some(token) = self.next() {
            if token.is_punct(punct) {
                return Ok(());
            }
        }
        Err(self.error(line, format!("expected `{punct}`")))
    }
}

fn arc(n: i128) -> Option<u32> {
    u32::try_from(n).ok()
}

fn token_text(token: &Token) -> String {
    match &token.tok {
        Tok::Word(w) => w.clone(),
        Tok::Punct(p) => (*p).to_owned(),
        Tok::Number(n) => n.to_string(),
        Tok::Str => "\"…\"".to_owned(),
        Tok::HexBin(h) => h.clone(),
    }
}

/// `0..255 | 300`, `(SIZE (4))`'s inner part: alternatives of single values and ranges.
/// Bounds that are not plain numbers (`MIN`, `MAX`, hex) leave that side open.
fn ranges(tokens: &[Token]) -> Vec<(i128, i128)> {
    let tokens: Vec<&Token> = tokens
        .iter()
        .filter(|t| !t.is_punct("(") && !t.is_punct(")"))
        .collect();
    let mut out = Vec::new();
    for alternative in tokens.split(|t| t.is_punct("|")) {
        let bound = |t: Option<&&Token>, open: i128| match t.map(|t| &t.tok) {
            Some(Tok::Number(n)) => *n,
            _ => open,
        };
        match alternative.iter().position(|t| t.is_punct("..")) {
            Some(dots) => out.push((
                bound(alternative.get(dots.wrapping_sub(1)), i128::MIN),
                bound(alternative.get(dots + 1), i128::MAX),
            )),
            None => {
                let value = bound(alternative.first(), i128::MIN);
                out.push((value, bound(alternative.first(), i128::MAX)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"TEST-MIB DEFINITIONS ::= BEGIN
IMPORTS
    OBJECT-TYPE, NOTIFICATION-TYPE, enterprises FROM SNMPv2-SMI
    SnmpAdminString FROM SNMP-FRAMEWORK-MIB;

testMIB OBJECT IDENTIFIER ::= { enterprises 9 }
Small ::= TEXTUAL-CONVENTION
    DISPLAY-HINT "d"
    STATUS current
    DESCRIPTION "A small number, SYNTAX in a description is text."
    SYNTAX Integer32 (0..10 | 20)
Row ::= SEQUENCE { a INTEGER, b OCTET STRING }
name OBJECT-TYPE
    SYNTAX      SnmpAdminString (SIZE (0..32))
    MAX-ACCESS  accessible-for-notify
    STATUS      current
    DESCRIPTION "x"
    ::= { testMIB 1 }
state OBJECT-TYPE
    SYNTAX INTEGER { up(1), down(2) }
    MAX-ACCESS read-only STATUS current DESCRIPTION "y" DEFVAL { up }
    ::= { testMIB 2 }
event NOTIFICATION-TYPE
    OBJECTS { name,
              state }
    STATUS current DESCRIPTION "z"
    ::= { testMIB 0 1 }
END
"#;

    #[test]
    fn reads_definitions_with_their_lines() {
        let modules = parse_file("TEST-MIB.txt", SAMPLE).unwrap();
        let [module] = modules.as_slice() else {
            panic!("one module")
        };
        assert_eq!(module.name, "TEST-MIB");
        assert_eq!(module.imports.len(), 4);
        assert_eq!(
            module.imports[3],
            ("SnmpAdminString".into(), "SNMP-FRAMEWORK-MIB".into(), 4)
        );
        let names: Vec<(&str, u32)> = module
            .defs
            .iter()
            .map(|d| (d.name.as_str(), d.line))
            .collect();
        assert_eq!(
            names,
            [("testMIB", 6), ("name", 13), ("state", 19), ("event", 23)]
        );
        let RawKind::Object(ty) = &module.defs[1].kind else {
            panic!("an object")
        };
        assert_eq!(ty.text, "SnmpAdminString (SIZE (0..32))");
        assert_eq!(ty.base, TypeBase::Named("SnmpAdminString".into()));
        assert_eq!(ty.size, Some(vec![(0, 32)]));
        assert_eq!(ty.line, 14);
        let RawKind::Object(ty) = &module.defs[2].kind else {
            panic!("an object")
        };
        assert_eq!(
            (ty.base.clone(), ty.text.as_str()),
            (TypeBase::Integer, "INTEGER { up(1), down(2) }")
        );
        let RawKind::Notification(objects, line) = &module.defs[3].kind else {
            panic!("a notification")
        };
        assert_eq!(
            (objects.clone(), *line),
            (vec!["name".to_owned(), "state".to_owned()], 24)
        );
        assert_eq!(
            module.defs[3].oid,
            [
                OidPart::Name("testMIB".into()),
                OidPart::Number(0),
                OidPart::Number(1)
            ]
        );
        let (tc, _, ty) = &module.types[0];
        assert_eq!(
            (tc.as_str(), ty.range.clone()),
            ("Small", Some(vec![(0, 10), (20, 20)]))
        );
        assert_eq!(module.types[1].2.base, TypeBase::Constructed);
    }

    #[test]
    fn broken_modules_name_the_line() {
        let cases = [
            (
                "X DEFINITIONS ::= BEGIN\na OBJECT IDENTIFIER ::= { b 1 \nEND\n",
                "X.txt:2: a: OID value not closed by `}`",
            ),
            (
                "X DEFINITIONS ::= BEGIN\na OBJECT IDENTIFIER { b 1 }\n",
                "X.txt:2: a: no `::=` before the end",
            ),
            (
                "X DEFINITIONS ::= BEGIN\n\n",
                "X.txt:1: module X has no `END`",
            ),
            (
                "X DEFINITIONS BEGIN",
                "X.txt:1: expected `::=` after `DEFINITIONS`",
            ),
            (
                "",
                "X.txt:1: no module: expected `NAME DEFINITIONS ::= BEGIN`",
            ),
            (
                "X DEFINITIONS ::= BEGIN\nb OBJECT-TYPE\n  STATUS current\n ::= { a 1 }\nEND",
                "X.txt:2: OBJECT-TYPE b has no SYNTAX",
            ),
            (
                "X DEFINITIONS ::= BEGIN\nb OBJECT-TYPE\n  SYNTAX ; STATUS current\n ::= { a 1 }\nEND",
                "X.txt:3: expected a type",
            ),
            (
                "X DEFINITIONS ::= BEGIN\nb OBJECT-TYPE SYNTAX (\n ::= { a 1 }\nEND",
                "X.txt:4: b: no `::=` before `END`",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_file("X.txt", text).unwrap_err();
            assert_eq!(error.to_string(), expected, "{text}");
        }
    }
}
