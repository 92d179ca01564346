//! What the agent mappings can read of their document, known when the rules load.
//!
//! Sources use it to parse only those parts of large inputs (a Mist device record is
//! kilobytes of radio, port and LLDP statistics; the default rules read six fields). The
//! tree is conservative: a value used whole (compared, interpolated, passed to a function
//! other than `count`) keeps everything below it, a `jsonpath()` query keeps its whole
//! target (the whole document without one), and an index (`list[2]`) reads every element.
//! The items a `for` visits keep their `name`, which run-time errors use to name them.

use std::collections::BTreeMap;
use std::collections::HashMap;

use super::program::{AgentProgram, BodyStmt, Builtin, Each, Node, NodeKind, Part, Root, Seg};

/// A tree of the keys read below one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadTree {
    /// Everything below this value may be read.
    pub whole: bool,
    /// The keys read of an object, and what is read below each.
    pub keys: BTreeMap<String, ReadTree>,
    /// What is read of every element, when the value is a list.
    pub each: Option<Box<ReadTree>>,
}

impl ReadTree {
    /// The tree below `steps` (a key, or every element for `None`); `None` if nothing
    /// below it is read, and a whole tree if an ancestor is read whole.
    pub fn at(&self, steps: &[Option<&str>]) -> Option<ReadTree> {
        let mut tree = self;
        for step in steps {
            if tree.whole {
                return Some(ReadTree::whole());
            }
            tree = match step {
                Some(key) => tree.keys.get(*key)?,
                None => tree.each.as_deref()?,
            };
        }
        Some(tree.clone())
    }

    /// A tree reading everything.
    pub fn whole() -> ReadTree {
        ReadTree {
            whole: true,
            ..ReadTree::default()
        }
    }

    fn mark(&mut self, steps: &[Step], whole: bool) {
        let mut tree = self;
        for step in steps {
            if tree.whole {
                return;
            }
            tree = match step {
                Step::Key(key) => tree.keys.entry(key.clone()).or_default(),
                Step::Each => tree.each.get_or_insert_with(Box::default),
            };
        }
        if whole {
            *tree = ReadTree::whole();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Each,
}

/// Where a value comes from in the document, when it is known.
type Location = Option<Vec<Step>>;

/// Everything the agent mappings can read of their document.
pub fn agent_reads(agents: &[AgentProgram]) -> ReadTree {
    let mut walker = Walker {
        tree: ReadTree::default(),
        vars: HashMap::new(),
    };
    for agent in agents {
        walker.iteration(&agent.each, None);
        for (_, node) in &agent.fields {
            walker.value(node, None);
        }
        walker.body(&agent.body);
    }
    walker.tree
}

struct Walker {
    tree: ReadTree,
    /// Where each loop variable's items come from.
    vars: HashMap<usize, Location>,
}

impl Walker {
    fn iteration(&mut self, each: &Each, item: Option<&Location>) {
        let items = self.list(&each.list, item);
        if let Some(steps) = &items {
            let mut name = steps.clone();
            name.push(Step::Key("name".to_owned()));
            self.tree.mark(&name, true);
        }
        self.vars.insert(each.slot, items);
        if let Some(filter) = &each.filter {
            self.value(filter, item);
        }
    }

    fn body(&mut self, body: &[BodyStmt]) {
        for stmt in body {
            match stmt {
                BodyStmt::Module(module) => {
                    self.value(&module.name, None);
                    self.value(&module.data, None);
                    for (_, node) in &module.fields {
                        self.value(node, None);
                    }
                }
                BodyStmt::For(each, inner) => {
                    self.iteration(each, None);
                    self.body(inner);
                }
            }
        }
    }

    /// The document location of a path, if it has one; `Some(None)` for a path whose
    /// start is not a document location (a parameter, or a loop over computed values).
    fn location(&self, node: &Node, item: Option<&Location>) -> Option<Location> {
        let NodeKind::Path(path) = &node.kind else {
            return None;
        };
        let start: Location = match path.root {
            Root::Document => Some(Vec::new()),
            Root::Var(slot) => self.vars.get(&slot).cloned().flatten(),
            Root::Item => item.cloned().flatten(),
            Root::Param => None,
        };
        Some(start.map(|mut steps| {
            steps.extend(path.segments.iter().map(|segment| match segment {
                Seg::Key(key) => Step::Key(key.clone()),
                Seg::Index(_) => Step::Each,
            }));
            steps
        }))
    }

    /// A node used as a list (`for`, `count`): where its elements come from. A path's
    /// elements are read only as the loop reads them; anything else is read whole.
    fn list(&mut self, node: &Node, item: Option<&Location>) -> Location {
        match self.location(node, item) {
            Some(Some(mut steps)) => {
                steps.push(Step::Each);
                // The elements exist even if nothing of them is read (`count(list)`).
                self.tree.mark(&steps, false);
                Some(steps)
            }
            Some(None) => None,
            None => {
                self.value(node, item);
                None
            }
        }
    }

    /// A node whose value is used whole.
    fn value(&mut self, node: &Node, item: Option<&Location>) {
        match &node.kind {
            NodeKind::Const(_) => {}
            NodeKind::Path(_) => {
                if let Some(Some(steps)) = self.location(node, item) {
                    self.tree.mark(&steps, true);
                }
            }
            NodeKind::Interpolate(parts) => {
                for part in parts {
                    if let Part::Value(node) = part {
                        self.value(node, item);
                    }
                }
            }
            NodeKind::List(items) => {
                for node in items {
                    self.value(node, item);
                }
            }
            NodeKind::Call(Builtin::Count, args) => {
                let elements = self.list(&args[0], item);
                if let Some(predicate) = args.get(1) {
                    self.value(predicate, Some(&elements));
                }
            }
            NodeKind::Call(_, args) => {
                for node in args {
                    self.value(node, item);
                }
            }
            NodeKind::JsonPath(_, None) => self.tree.mark(&[], true),
            NodeKind::JsonPath(_, Some(target)) => self.value(target, item),
            NodeKind::Not(inner) => self.value(inner, item),
            NodeKind::Binary(_, lhs, rhs) => {
                self.value(lhs, item);
                self.value(rhs, item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{LoadOptions, RuleSet};

    fn reads(rules: &str) -> ReadTree {
        RuleSet::from_sources(
            vec![("t.rules".to_owned(), rules.to_owned())],
            &Default::default(),
        )
        .unwrap()
        .agent_reads()
    }

    fn keys(tree: &ReadTree) -> Vec<&str> {
        tree.keys.keys().map(String::as_str).collect()
    }

    #[test]
    fn the_default_rules_read_six_device_fields() {
        let rules = RuleSet::load(&LoadOptions::default()).unwrap();
        let tree = rules.agent_reads();
        assert!(!tree.whole);
        let site = tree.at(&[Some("sites"), None]).unwrap();
        assert!(!site.whole);
        assert_eq!(keys(&site), ["country_code", "devices", "id", "name"]);
        let device = tree
            .at(&[Some("sites"), None, Some("devices"), None])
            .unwrap();
        assert!(!device.whole);
        assert_eq!(
            keys(&device),
            ["hostname", "ip", "mac", "name", "status", "type"]
        );
        assert!(device.keys.values().all(|field| field.whole));
    }

    #[test]
    fn values_used_whole_and_jsonpath_keep_everything_below_them() {
        let tree = reads(
            r#"agent a for site in mist.sites {
                name = "${site.name}"
                module "m" { type = generic_data_string data = jsonpath(site.devices[0], "$.radio_stat") }
            }"#,
        );
        let devices = tree.at(&[Some("sites"), None, Some("devices")]).unwrap();
        assert!(devices.at(&[None]).unwrap().whole, "{devices:?}");
        let tree = reads(
            r#"agent a for site in mist.sites {
                name = "${site.name}"
                module "m" { type = generic_data data = count(jsonpath("$..devices[*]")) }
            }"#,
        );
        assert!(tree.whole);
    }

    #[test]
    fn counting_reads_only_the_predicate_fields() {
        let tree = reads(
            r#"agent a for site in mist.sites {
                name = "x"
                module "n" { type = generic_data data = count(site.devices) }
                module "c" { type = generic_data data = count(site.devices, .status == "connected") }
            }"#,
        );
        let device = tree
            .at(&[Some("sites"), None, Some("devices"), None])
            .unwrap();
        assert_eq!(keys(&device), ["status"]);
        let site = tree.at(&[Some("sites"), None]).unwrap();
        // `name` is kept for the error messages that name a site.
        assert_eq!(keys(&site), ["devices", "name"]);
    }
}
