//! From a record to a clean agent: hygiene applied, then the checks that would otherwise
//! produce a file Pandora rejects, quarantines or reads differently from what the rule meant.

use std::borrow::Cow;
use std::collections::HashSet;

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

    let mut seen_attributes = HashSet::new();
    let mut attributes = Vec::with_capacity(agent.attributes.len());
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
        if !seen_attributes.insert(key.as_str()) {
            return Err(invalid(Problem::DuplicateAttribute(key.clone())));
        }
        attributes.push((key.as_str(), hygiene::attribute_value(value)));
    }

    let mut seen_modules = HashSet::new();
    let mut modules = Vec::with_capacity(agent.modules.len());
    for (index, module) in agent.modules.iter().enumerate() {
        let module_name = hygiene::module_name(&module.name);
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
        if !seen_modules.insert(module_name.clone()) {
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
