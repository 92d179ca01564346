//! Integration tests: mist.
