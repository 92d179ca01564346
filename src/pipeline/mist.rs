//! The Mist → Pandora job: fetch the organisation, evaluate agent mappings, write the spool.
