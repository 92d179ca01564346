//! The agent XML text, written with quick-xml.
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

    for module in &agent.modules {
        writer.write_event(Event::Start(BytesStart::new("module")))?;
        cdata_element(&mut writer, "name", &module.name)?;
        cdata_element(&mut writer, "type", &module.module_type)?;
        cdata_element(&mut writer, "data", &module.data)?;
        for (field, value) in &module.fields {
            cdata_element(&mut writer, field, value)?;
        }
        writer.write_event(Event::End(BytesEnd::new("module")))?;
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

/// `<tag><![CDATA[text]]></tag>`, split into several sections wherever `text` holds `]]>`.
fn cdata_element(writer: &mut Writer<Vec<u8>>, tag: &str, text: &str) -> io::Result<()> {
    writer.write_event(Event::Start(BytesStart::new(tag)))?;
    for section in BytesCData::escaped(text) {
        writer.write_event(Event::CData(section))?;
    }
    writer.write_event(Event::End(BytesEnd::new(tag)))
}
