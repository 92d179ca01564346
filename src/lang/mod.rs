//! The rules language, one room: syntax (pest) → AST (spanned, no pest types) → semantic
//! check → a compiled [`program`] → the interpreter ([`eval`]) that turns documents into
//! records. [`RuleSet`] is the loaded rules and every method callers use.

pub mod ast;
pub mod check;
pub mod diag;
pub mod eval;
pub mod limits;
mod load;
mod mib_check;
pub mod program;
pub mod reads;
mod rule_set;
mod snmp_value;
pub mod syntax;
pub mod value;

pub use eval::{EvalError, Explained, Params};
pub use load::{DEFAULT_CASES, DEFAULT_RULES, LoadError, LoadOptions, MAX_RULES_FILE};
pub use reads::ReadTree;
pub use rule_set::RuleSet;
