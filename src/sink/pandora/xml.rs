//! The agent XML text: the declaration and the root element with its attributes written
//! with quick-xml, the module blocks (one fixed shape) straight into its buffer.
//!
//! Layout (2-space indent, UTF-8):
//!
//! ```xml
//! <?xml version="1.0" encoding="UTF-8"?>
//! <agent_data agent_name="…" group="…" … timestamp="2024/07/10 10:05:00">
//!   <module>
//!     <name><![CDATA[…]]></name>
//!     <type><![CDATA[generic_proc]]></type>
//!     <data><![CDATA[1]]></data>
//!     <description><![CDATA[…]]></description>
//!   </module>
//! </agent_data>
//! ```

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::name::QName;

use super::validate::CleanAgent;

/// The format the data server parses; it reads it as its own local time.
const TIMESTAMP_FORMAT: &str = "%Y/%m/%d %H:%M:%S";

/// Renders a validated agent. `now` supplies `timestamp` unless a rule set one.
pub(super) fn render(agent: &CleanAgent<'_>, now: &jiff::Zoned) -> io::Result<String> {
    let mut writer = Writer::new_with_indent(Vec::with_capacity(4096), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;

    let mut root = BytesStart::new("agent_data");
    push_escaped_attribute(
        &mut root,
        "agent_name",
        &super::hygiene::attribute_value(&agent.name),
    );
    for (key, escaped) in &agent.attributes {
        push_escaped_attribute(&mut root, key, escaped);
    }
    if !agent.has_attribute("timestamp") {
        let timestamp = now.strftime(TIMESTAMP_FORMAT).to_string();
        push_escaped_attribute(&mut root, "timestamp", &timestamp);
    }
    writer.write_event(Event::Start(root))?;

    // The module blocks have one fixed shape, written straight into the buffer in the
    // layout the writer's indentation gives (an event each cost more than the text).
    let out = writer.get_mut();
    for module in &agent.modules {
        out.extend_from_slice(b"\n  <module>");
        cdata_element(out, "name", &module.name);
        cdata_element(out, "type", &module.module_type);
        cdata_element(out, "data", &module.data);
        for (field, value) in &module.fields {
            cdata_element(out, field, value);
        }
        out.extend_from_slice(b"\n  </module>");
    }

    writer.write_event(Event::End(BytesEnd::new("agent_data")))?;
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Adds `key="escaped"`; the value is already escaped by the hygiene rules (which also
/// protect TAB, LF and CR), so it is pushed as is rather than escaped again.
fn push_escaped_attribute(element: &mut BytesStart<'_>, key: &str, escaped: &str) {
    element.push_attribute(Attribute {
        key: QName(key),
        value: Cow::Borrowed(escaped),
    });
}

/// `<tag><![CDATA[text]]></tag>` on a line of its own inside a module, split into several
/// sections wherever `text` holds `]]>` (where quick-xml splits it).
fn cdata_element(out: &mut Vec<u8>, tag: &str, text: &str) {
    out.extend_from_slice(b"\n    <");
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
    if text.contains("]]>") {
        for section in BytesCData::escaped(text) {
            push_cdata(out, section.into_inner().as_bytes());
        }
    } else {
        push_cdata(out, text.as_bytes());
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(tag.as_bytes());
    out.push(b'>');
}

fn push_cdata(out: &mut Vec<u8>, section: &[u8]) {
    out.extend_from_slice(b"<![CDATA[");
    out.extend_from_slice(section);
    out.extend_from_slice(b"]]>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An `<agent_data>` element written by quick-xml's indenting writer, `inside` writing
    /// its content.
    fn in_agent_data(inside: impl FnOnce(&mut Writer<Vec<u8>>)) -> String {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        let root = "agent_data";
        writer
            .write_event(Event::Start(BytesStart::new(root)))
            .unwrap();
        inside(&mut writer);
        writer.write_event(Event::End(BytesEnd::new(root))).unwrap();
        String::from_utf8(writer.into_inner()).unwrap()
    }

    /// A module element written event by event.
    fn by_events(tag: &str, text: &str) -> String {
        in_agent_data(|writer| {
            for element in ["module", tag] {
                writer
                    .write_event(Event::Start(BytesStart::new(element)))
                    .unwrap();
            }
            for section in BytesCData::escaped(text) {
                writer.write_event(Event::CData(section)).unwrap();
            }
            for element in [tag, "module"] {
                writer
                    .write_event(Event::End(BytesEnd::new(element)))
                    .unwrap();
            }
        })
    }

    /// A module element written as `render` writes it.
    fn directly(tag: &str, text: &str) -> String {
        in_agent_data(|writer| {
            let out = writer.get_mut();
            out.extend_from_slice(b"\n  <module>");
            cdata_element(out, tag, text);
            out.extend_from_slice(b"\n  </module>");
        })
    }

    #[test]
    fn modules_are_laid_out_as_the_indenting_writer_lays_them_out() {
        for text in ["", "1", "a]]>b", "]]>", "]]]]>>", "x]]", "é ]]> ]]>"] {
            assert_eq!(
                directly("description", text),
                by_events("description", text),
                "{text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_text_is_written_as_the_writer_writes_it(text in "[a-z\\]> é]{0,24}") {
            prop_assert_eq!(directly("data", &text), by_events("data", &text));
        }
    }
}
