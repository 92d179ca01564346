//! Integration tests: mib.
