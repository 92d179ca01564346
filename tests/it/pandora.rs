//! Integration tests: pandora.
