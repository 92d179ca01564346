//! Expressions: values, paths, operators and built-in functions.

use std::borrow::Cow;

use serde_json::Value;

use super::{Eval, Evaluator, Fail};
use crate::lang::ast::{BinOp, Span};
use crate::lang::diag::{Code, did_you_mean};
use crate::lang::program::*;
use crate::lang::value::{self, Val, values_equal};

impl<'a> Evaluator<'a> {
    pub(super) fn eval(&mut self, node: &'a Node) -> Eval<Val<'a>> {
        match &node.kind {
            NodeKind::Const(constant) => match constant {
                Const::Null => Ok(Val::Null),
                Const::Bool(b) => Ok(Val::Bool(*b)),
                Const::Number(n) => Ok(Val::Number(*n)),
                Const::Str(s) => Ok(Val::Str(Cow::Borrowed(s))),
                Const::Missing(message) => Err(Fail::Missing {
                    span: node.span,
                    message: message.clone(),
                }),
            },
            NodeKind::Path(path) => {
                let result = self.path(path, node.span);
                if let Some(reads) = &mut self.reads {
                    let shown = match &result {
                        Ok(value) => value.preview(),
                        Err(_) => "missing".to_owned(),
                    };
                    reads.push((path.text.clone(), shown));
                }
                result
            }
            NodeKind::Interpolate(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Value(node) => match self.eval(node)? {
                            Val::Str(part) => text.push_str(&part),
                            value => text.push_str(&self.text_of(&value, node.span)?),
                        },
                    }
                }
                Ok(Val::Str(Cow::Owned(text)))
            }
            NodeKind::List(items) => items
                .iter()
                .map(|item| self.eval(item))
                .collect::<Eval<Vec<_>>>()
                .map(Val::List),
            NodeKind::Not(inner) => Ok(Val::Bool(!self.condition(inner)?)),
            NodeKind::Binary(op, lhs, rhs) => self.binary(*op, lhs, rhs, node.span),
            NodeKind::Call(builtin, args) => self.call(*builtin, args, node.span),
            NodeKind::JsonPath(query, target) => {
                let target: &'a Value = match target {
                    None => self.document,
                    Some(node) => match self.eval(node)? {
                        Val::Json(value) => value,
                        other => {
                            return Err(Fail::wrong(
                                Code::E0302,
                                node.span,
                                format!(
                                    "jsonpath() queries a list or an object, this is {}",
                                    other.kind()
                                ),
                            ));
                        }
                    },
                };
                let found = jsonpath_rust::query::js_path_process(query, target).map_err(|e| {
                    Fail::wrong(Code::E0302, node.span, format!("jsonpath() failed: {e}"))
                })?;
                Ok(Val::List(
                    found.into_iter().map(|r| Val::from_json(r.val())).collect(),
                ))
            }
        }
    }

    /// Evaluates `node` where a `Missing` result is dropped by the caller.
    fn eval_discarding_missing(&mut self, node: &'a Node) -> Eval<Val<'a>> {
        self.discarding += 1;
        let result = self.eval(node);
        self.discarding -= 1;
        result
    }

    pub(super) fn path(&mut self, path: &'a PathNode, span: Span) -> Eval<Val<'a>> {
        let (start, segments): (Val<'a>, &[Seg]) = match path.root {
            Root::Document => (Val::Json(self.document), &path.segments),
            Root::Var(slot) => (
                self.vars.get(slot).cloned().unwrap_or(Val::Null),
                &path.segments,
            ),
            Root::Item => (self.item.clone().unwrap_or(Val::Null), &path.segments),
            Root::Param => {
                let Some(Seg::Key(name)) = path.segments.first() else {
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        "`param` needs a name: `param.NAME`",
                    ));
                };
                return match self.params.0.get(name) {
                    Some(value) if path.segments.len() == 1 => {
                        Ok(Val::Str(Cow::Owned(value.clone())))
                    }
                    Some(_) => Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!("`param.{name}` is text; it has no fields"),
                    )),
                    None if self.discarding > 0 => Err(Fail::Missing {
                        span,
                        message: String::new(),
                    }),
                    None => {
                        let known: Vec<&str> = self.params.0.keys().map(String::as_str).collect();
                        let advice = match did_you_mean(name, known.iter().copied()) {
                            Some(near) => format!("did you mean `param.{near}`?"),
                            None => format!("give it with --param {name}=VALUE"),
                        };
                        Err(Fail::Missing {
                            span,
                            message: format!(
                                "`param.{name}` is not set (set: {}); {advice}",
                                list_or_none(&known)
                            ),
                        })
                    }
                };
            }
        };
        let mut current = start;
        // The part of the path read so far, for error messages only.
        let walked = |upto: usize| {
            let root = path.text.split(['.', '[']).next().unwrap_or("");
            let mut text = root.to_owned();
            for segment in &segments[..upto] {
                match segment {
                    Seg::Key(key) => {
                        text.push('.');
                        text.push_str(key);
                    }
                    Seg::Index(index) => text.push_str(&format!("[{index}]")),
                }
            }
            text
        };
        for (position, segment) in segments.iter().enumerate() {
            let walked = || walked(position);
            let next = match (&current, segment) {
                (Val::Json(Value::Object(map)), Seg::Key(key)) => match value::member(map, key) {
                    Some(value) => Val::from_json(value),
                    None if self.discarding > 0 => {
                        return Err(Fail::Missing {
                            span,
                            message: String::new(),
                        });
                    }
                    None => {
                        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                        let near = match did_you_mean(key, keys.iter().copied()) {
                            Some(near) => format!("; did you mean `{}.{near}`?", walked()),
                            None => String::new(),
                        };
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {}{near}",
                                path.text,
                                walked(),
                                list_or_none(&keys)
                            ),
                        });
                    }
                },
                (Val::Json(Value::Array(items)), Seg::Index(index)) => match items.get(*index) {
                    Some(value) => Val::from_json(value),
                    None => {
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {} items",
                                path.text,
                                walked(),
                                items.len()
                            ),
                        });
                    }
                },
                (Val::List(items), Seg::Index(index)) => match items.get(*index) {
                    Some(value) => value.clone(),
                    None => {
                        return Err(Fail::Missing {
                            span,
                            message: format!(
                                "`{}` is missing: `{}` has {} items",
                                path.text,
                                walked(),
                                items.len()
                            ),
                        });
                    }
                },
                (Val::Null, _) => {
                    return Err(Fail::Missing {
                        span,
                        message: format!("`{}` is missing: `{}` is null", path.text, walked()),
                    });
                }
                (other, segment) => {
                    let wanted = match segment {
                        Seg::Key(_) => "an object",
                        Seg::Index(_) => "a list",
                    };
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!(
                            "`{}` is {}, not {wanted}, so `{}` cannot be read",
                            walked(),
                            other.kind(),
                            path.text
                        ),
                    ));
                }
            };
            current = next;
        }
        Ok(current)
    }

    pub(super) fn binary(
        &mut self,
        op: BinOp,
        lhs: &'a Node,
        rhs: &'a Node,
        span: Span,
    ) -> Eval<Val<'a>> {
        match op {
            BinOp::And => Ok(Val::Bool(self.condition(lhs)? && self.condition(rhs)?)),
            BinOp::Or => Ok(Val::Bool(self.condition(lhs)? || self.condition(rhs)?)),
            BinOp::Coalesce => match self.eval_discarding_missing(lhs) {
                Ok(value) if !value.is_empty_like() => Ok(value),
                Ok(_) | Err(Fail::Missing { .. }) => self.eval(rhs),
                Err(other) => Err(other),
            },
            BinOp::Eq => Ok(Val::Bool(values_equal(&self.eval(lhs)?, &self.eval(rhs)?))),
            BinOp::Ne => Ok(Val::Bool(!values_equal(&self.eval(lhs)?, &self.eval(rhs)?))),
            BinOp::In => {
                let needle = self.eval(lhs)?;
                let haystack = self.eval(rhs)?;
                match (&needle, &haystack) {
                    (Val::Str(n), Val::Str(h)) => Ok(Val::Bool(h.contains(n.as_ref()))),
                    _ => match haystack.items() {
                        Some(items) => {
                            Ok(Val::Bool(items.iter().any(|i| values_equal(i, &needle))))
                        }
                        None => Err(Fail::wrong(
                            Code::E0302,
                            rhs.span,
                            format!(
                                "`in` needs a list or a string on its right, this is {}",
                                haystack.kind()
                            ),
                        )),
                    },
                }
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let a = self.eval(lhs)?;
                let b = self.eval(rhs)?;
                let ordering = match (&a, &b) {
                    (Val::Number(x), Val::Number(y)) => x.partial_cmp(y),
                    (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
                    _ => None,
                };
                let Some(ordering) = ordering else {
                    return Err(Fail::wrong(
                        Code::E0302,
                        span,
                        format!(
                            "`{}` compares numbers or strings, not {} and {}",
                            op.symbol(),
                            a.kind(),
                            b.kind()
                        ),
                    ));
                };
                use std::cmp::Ordering::*;
                Ok(Val::Bool(match op {
                    BinOp::Lt => ordering == Less,
                    BinOp::Le => ordering != Greater,
                    BinOp::Gt => ordering == Greater,
                    _ => ordering != Less,
                }))
            }
        }
    }

    pub(super) fn call(&mut self, builtin: Builtin, args: &'a [Node], span: Span) -> Eval<Val<'a>> {
        match builtin {
            Builtin::Count => {
                let list = self.list_arg(&args[0])?;
                let Some(predicate) = args.get(1) else {
                    return Ok(Val::Number(list.len() as f64));
                };
                let saved = self.item.take();
                let mut count = 0usize;
                for item in list {
                    self.item = Some(item);
                    match self.condition(predicate) {
                        Ok(true) => count += 1,
                        Ok(false) => {}
                        Err(fail) => {
                            self.item = saved;
                            return Err(fail);
                        }
                    }
                }
                self.item = saved;
                Ok(Val::Number(count as f64))
            }
            Builtin::Join => {
                let list = self.list_arg(&args[0])?;
                let separator = self.eval(&args[1])?;
                let separator = self.text_of(&separator, args[1].span)?.into_owned();
                let mut parts = Vec::with_capacity(list.len());
                for item in &list {
                    parts.push(self.text_of(item, args[0].span)?.into_owned());
                }
                Ok(Val::Str(Cow::Owned(parts.join(&separator))))
            }
            Builtin::Lower | Builtin::Upper | Builtin::Trim => {
                let value = self.eval(&args[0])?;
                let text = self.text_of(&value, args[0].span)?;
                Ok(Val::Str(Cow::Owned(match builtin {
                    Builtin::Lower => text.to_lowercase(),
                    Builtin::Upper => text.to_uppercase(),
                    _ => text.trim().to_owned(),
                })))
            }
            Builtin::Default | Builtin::Coalesce => {
                let mut last_missing = None;
                for arg in args {
                    match self.eval(arg) {
                        Ok(value) if !value.is_empty_like() => return Ok(value),
                        Ok(_) => {}
                        Err(missing @ Fail::Missing { .. }) => last_missing = Some(missing),
                        Err(other) => return Err(other),
                    }
                }
                Err(last_missing.unwrap_or(Fail::Missing {
                    span,
                    message: format!("every argument of {}() is missing or empty", builtin.name()),
                }))
            }
            Builtin::Exists => match self.eval_discarding_missing(&args[0]) {
                Ok(Val::Null) | Err(Fail::Missing { .. }) => Ok(Val::Bool(false)),
                Ok(_) => Ok(Val::Bool(true)),
                Err(other) => Err(other),
            },
            // Compiled to NodeKind::JsonPath at load time.
            Builtin::JsonPath => Err(Fail::wrong(
                Code::E0216,
                span,
                "jsonpath() was not compiled",
            )),
        }
    }

    pub(super) fn list_arg(&mut self, node: &'a Node) -> Eval<Vec<Val<'a>>> {
        let value = self.eval(node)?;
        value.items().ok_or_else(|| {
            Fail::wrong(
                Code::E0302,
                node.span,
                format!(
                    "`{}` is {}, not a list",
                    self.sources.snippet(node.span),
                    value.kind()
                ),
            )
        })
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "nothing".to_owned()
    } else {
        items.join(", ")
    }
}
