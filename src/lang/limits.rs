//! Limits that keep any rules text from exhausting the stack.
//!
//! The parser, the checker and the interpreter recurse over nested expressions. Rules are
//! written by hand and never need deep nesting, while a generated or corrupted file can nest
//! thousands of levels: that would abort the process (a stack overflow is not a panic), and in
//! the daemon would do so again at every restart. So nesting is measured before pest sees the
//! text, operators are counted before the Pratt parser builds a tree, and every expression's
//! depth is measured once it is built; anything beyond the limits is a coded diagnostic at the
//! place that crossed it, and the checker and the interpreter only ever see shallow trees.

use super::ast::{Expr, ExprKind, Span, StrPart};
use super::diag::{Code, Diagnostic};

/// Brackets, braces, `(…)` and `${…}` open at once, anywhere in a file.
pub const MAX_NESTING: usize = 64;
/// Operators (`not`, `or`, `==`, `??`, …) in one expression at one level of parentheses.
pub const MAX_OPERATORS: usize = 1_000;
/// Depth of one expression's tree: each operator, call, list, interpolation or pair of
/// parentheses is one level. Evaluation recurses this deep, on threads with small stacks.
pub const MAX_EXPRESSION_DEPTH: usize = 100;

/// Operator-like tokens up to which a file is parsed on the caller's stack: with at most this
/// many and nesting within [`MAX_NESTING`], no recursion goes deeper than a few hundred
/// frames. Parsing elsewhere would also put the rules in another allocator arena, which
/// measurably slows the allocations of every audit after them.
const OPERATORS_ON_CALLER_STACK: usize = 500;

/// What a first pass over a rules text found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The byte offset of the first opening token that nests deeper than [`MAX_NESTING`].
    pub too_deep_at: Option<usize>,
    /// An upper bound of the operators in the text: `not`, `and`, `or`, `in` and every byte of
    /// `=`, `!`, `<`, `>`, `?` outside strings and comments.
    pub operators: usize,
}

impl Shape {
    /// Whether parsing may recurse deeper than the caller's stack should be asked for.
    pub fn needs_large_stack(&self) -> bool {
        self.operators > OPERATORS_ON_CALLER_STACK
    }
}

/// Measures nesting and counts operators, following strings, escapes, `${…}` and comments as
/// the grammar reads them; an unbalanced closing token is left for the parser to report.
pub fn shape(text: &str) -> Shape {
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        Bracket,
        Interpolation,
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    let mut operators = 0;
    let mut in_string = false;
    let mut at = 0;
    let deep = |at, operators| Shape {
        too_deep_at: Some(at),
        operators,
    };
    while at < bytes.len() {
        let byte = bytes[at];
        if in_string {
            match byte {
                b'\\' => at += 1,
                b'"' => in_string = false,
                b'$' if bytes.get(at + 1) == Some(&b'{') => {
                    if stack.len() == MAX_NESTING {
                        return deep(at, operators);
                    }
                    stack.push(Open::Interpolation);
                    in_string = false;
                    at += 1;
                }
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b'#' => {
                    while at < bytes.len() && bytes[at] != b'\n' {
                        at += 1;
                    }
                }
                b'(' | b'[' | b'{' => {
                    if stack.len() == MAX_NESTING {
                        return deep(at, operators);
                    }
                    stack.push(Open::Bracket);
                }
                b')' | b']' if stack.last() == Some(&Open::Bracket) => {
                    stack.pop();
                }
                b'}' => match stack.pop() {
                    Some(Open::Interpolation) => in_string = true,
                    Some(Open::Bracket) | None => {}
                },
                b'=' | b'!' | b'<' | b'>' | b'?' => operators += 1,
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    let start = at;
                    while at + 1 < bytes.len()
                        && (bytes[at + 1].is_ascii_alphanumeric() || bytes[at + 1] == b'_')
                    {
                        at += 1;
                    }
                    if matches!(&bytes[start..=at], b"not" | b"and" | b"or" | b"in") {
                        operators += 1;
                    }
                }
                _ => {}
            }
        }
        at += 1;
    }
    Shape {
        too_deep_at: None,
        operators,
    }
}

/// Whether a JSONPath query opens more than [`MAX_NESTING`] brackets at once. Quotes are not
/// followed: a bracket inside a quoted key counts too, which only errs on the safe side.
pub fn query_too_deep(query: &str) -> bool {
    let mut depth: usize = 0;
    for byte in query.bytes() {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return true;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

pub fn nesting_diagnostic(file: u32, offset: usize) -> Diagnostic {
    Diagnostic::error(
        Code::E0105,
        Span::new(file, offset, offset + 1),
        format!("this opens a level deeper than the {MAX_NESTING} rules allow"),
    )
    .label(format!("level {}", MAX_NESTING + 1))
    .help("name the inner parts in an `objects` block, or write a flatter expression")
}

pub fn operators_diagnostic(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::E0105,
        span,
        format!("an expression may have at most {MAX_OPERATORS} operators"),
    )
    .label(format!("operator {}", MAX_OPERATORS + 1))
    .help("test a value against many with `in [\"A\", \"B\", …]` instead of a chain of `or`")
}

/// The first node of `expr` deeper than [`MAX_EXPRESSION_DEPTH`], walked without recursion.
pub fn deepest_beyond_limit(expr: &Expr) -> Option<Span> {
    let mut pending: Vec<(&Expr, usize)> = vec![(expr, 1)];
    while let Some((node, depth)) = pending.pop() {
        if depth > MAX_EXPRESSION_DEPTH {
            return Some(node.span);
        }
        match &node.kind {
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::Path(_)
            | ExprKind::RelPath(_) => {}
            ExprKind::Str(parts) => {
                for part in parts.iter().rev() {
                    if let StrPart::Interpolation(inner) = part {
                        pending.push((inner, depth + 1));
                    }
                }
            }
            ExprKind::List(items) | ExprKind::Call(_, items) => {
                pending.extend(items.iter().rev().map(|item| (item, depth + 1)));
            }
            ExprKind::Not(inner) => pending.push((inner, depth + 1)),
            // Left operands last, so they are walked first: the report points at the
            // leftmost node past the limit.
            ExprKind::Binary(_, lhs, rhs) => {
                pending.push((rhs, depth + 1));
                pending.push((lhs, depth + 1));
            }
        }
    }
    None
}

pub fn depth_diagnostic(span: Span) -> Diagnostic {
    Diagnostic::error(
        Code::E0105,
        span,
        format!("this expression nests deeper than the {MAX_EXPRESSION_DEPTH} levels rules allow"),
    )
    .label(format!("level {}", MAX_EXPRESSION_DEPTH + 1))
    .help("test a value against many with `in [\"A\", \"B\", …]`, or split the condition over several trap bindings")
}

/// Runs `work` on a thread with a stack large enough for anything the limits let through
/// (and for dropping a tree they refused), so parsing a long file never depends on the
/// caller's stack: the daemon's reload thread, a test harness thread. If no thread can be
/// started, it runs on the caller's thread.
pub fn with_large_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    const STACK: usize = 256 * 1024 * 1024;
    let work = std::sync::Mutex::new(Some(work));
    let take = || work.lock().unwrap_or_else(|e| e.into_inner()).take();
    let on_thread = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("rules-parse".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || take().map(|work| work()))
            .ok()?;
        match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    match on_thread {
        Some(value) => value,
        None => match take() {
            Some(work) => work(),
            None => unreachable!("the work ran on the thread or is still here"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_deep(text: &str) -> Option<usize> {
        shape(text).too_deep_at
    }

    #[test]
    fn nesting_is_measured_through_strings_and_comments() {
        let deep = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(too_deep(&deep), None);
        let deeper = format!("x {}1", "(".repeat(MAX_NESTING + 1));
        assert_eq!(too_deep(&deeper), Some(2 + MAX_NESTING));
        // Brackets inside strings and comments do not count; `${` does.
        let quoted = format!("\"{}\" # {}", "(".repeat(200), "[".repeat(200));
        assert_eq!(too_deep(&quoted), None);
        let interpolated = "\"${\"".repeat(MAX_NESTING + 1);
        assert!(too_deep(&interpolated).is_some());
        let escaped = format!("\"\\\"{}\"", "(".repeat(200));
        assert_eq!(too_deep(&escaped), None);
    }

    #[test]
    fn operators_are_counted_outside_strings_and_comments() {
        let text = "trap t when not a == \"or and\" or b in [1] and c ?? d != e # or or or\n";
        // not, ==, or, in, and, ??, != (each symbol byte counted: an upper bound)
        assert_eq!(shape(text).operators, 1 + 2 + 1 + 1 + 1 + 2 + 2);
        assert!(!shape(text).needs_large_stack());
        let long = "not ".repeat(OPERATORS_ON_CALLER_STACK + 1);
        assert!(shape(&long).needs_large_stack());
        // Words that merely contain an operator are not operators.
        assert_eq!(shape("index nothing origin android").operators, 0);
    }
}
