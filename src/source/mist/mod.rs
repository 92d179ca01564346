//! The Juniper Mist cloud API, fetched into the document agent mappings read.
