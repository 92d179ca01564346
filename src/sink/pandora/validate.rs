//! From a record to a clean agent: hygiene applied, then the checks that would otherwise
//! produce a file Pandora rejects, quarantines or reads differently from what the rule meant.

use std::borrow::Cow;

use super::error::{Problem, SpoolError};
use super::hygiene;
use crate::record::Agent;
use crate::record::pandora::{RESERVED_ATTRIBUTES, RESERVED_FIELDS};

/// An agent after hygiene and validation; borrowed from the record where nothing changed.
#[derive(Debug)]
pub(super) struct CleanAgent<'a> {
    pub name: Cow<'a, str>,
    /// Attribute names (checked plain XML names) with their escaped values.
    pub attributes: Vec<(&'a str, String)>,
    pub modules: Vec<CleanModule<'a>>,
}

#[derive(Debug)]
pub(super) struct CleanModule<'a> {
    pub name: Cow<'a, str>,
    pub module_type: Cow<'a, str>,
    pub data: Cow<'a, str>,
    pub fields: Vec<(&'a str, Cow<'a, str>)>,
}

impl CleanAgent<'_> {
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|(key, _)| *key == name)
    }
}

pub(super) fn clean(agent: &Agent) -> Result<CleanAgent<'_>, SpoolError> {
    let invalid = |problem| SpoolError::Invalid {
        agent: agent.name.clone(),
        problem,
    };

    let name = hygiene::strip_forbidden(&agent.name);
    if name.trim().is_empty() {
        return Err(invalid(Problem::EmptyAgentName));
    }

    let mut attributes: Vec<(&str, String)> = Vec::with_capacity(agent.attributes.len());
    for (key, value) in &agent.attributes {
        if !hygiene::is_plain_xml_name(key) {
            return Err(invalid(Problem::BadAttributeName(key.clone())));
        }
        if let Some((_, why)) = RESERVED_ATTRIBUTES.iter().find(|(name, _)| name == key) {
            return Err(invalid(Problem::ReservedAttribute {
                name: key.clone(),
                why,
            }));
        }
        // A handful of attributes: a look back costs less than hashing each.
        if attributes.iter().any(|(seen, _)| *seen == key) {
            return Err(invalid(Problem::DuplicateAttribute(key.clone())));
        }
        attributes.push((key.as_str(), hygiene::attribute_value(value)));
    }

    let names: Vec<Cow<'_, str>> = agent
        .modules
        .iter()
        .map(|module| hygiene::module_name(&module.name))
        .collect();
    let repeated = first_repeated(&names);
    let mut modules = Vec::with_capacity(agent.modules.len());
    for ((index, module), module_name) in agent.modules.iter().enumerate().zip(names) {
        // XML::Simple reads a whitespace-only element as empty, so such a name is empty too.
        if module_name.trim().is_empty() {
            return Err(invalid(Problem::EmptyModuleName {
                position: index + 1,
            }));
        }
        let mut fields = Vec::with_capacity(module.fields.len());
        for (field, value) in &module.fields {
            if !hygiene::is_plain_xml_name(field) {
                return Err(invalid(Problem::BadFieldName {
                    module: module_name.clone().into_owned(),
                    field: field.clone(),
                }));
            }
            if RESERVED_FIELDS.contains(&field.as_str()) {
                return Err(invalid(Problem::ReservedField {
                    module: module_name.clone().into_owned(),
                    field: field.clone(),
                }));
            }
            fields.push((field.as_str(), hygiene::element_text(value)));
        }
        if repeated == Some(index) {
            return Err(invalid(Problem::DuplicateModule(module_name.into_owned())));
        }
        modules.push(CleanModule {
            name: module_name,
            module_type: hygiene::element_text(&module.module_type),
            data: hygiene::element_text(&module.data),
            fields,
        });
    }

    Ok(CleanAgent {
        name,
        attributes,
        modules,
    })
}

/// The position of the first name that repeats an earlier one. Names sorted with their
/// positions put each repeat right after its first use, without hashing every name.
fn first_repeated(names: &[Cow<'_, str>]) -> Option<usize> {
    let mut order: Vec<(&str, usize)> = names
        .iter()
        .enumerate()
        .map(|(index, name)| (name.as_ref(), index))
        .collect();
    order.sort_unstable();
    order
        .windows(2)
        .filter(|pair| pair[0].0 == pair[1].0)
        .map(|pair| pair[1].1)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_repeat_is_the_earliest_name_seen_before() {
        let names = |list: &[&'static str]| -> Vec<Cow<'static, str>> {
            list.iter().map(|name| Cow::Borrowed(*name)).collect()
        };
        assert_eq!(first_repeated(&names(&[])), None);
        assert_eq!(first_repeated(&names(&["a", "b", "c"])), None);
        assert_eq!(first_repeated(&names(&["b", "a", "b", "a"])), Some(2));
        assert_eq!(first_repeated(&names(&["z", "a", "a", "z", "a"])), Some(2));
        assert_eq!(first_repeated(&names(&["x", "y", "y", "y", "x"])), Some(2));
    }
}
