//! Packages operators install: the Pandora FMS server plugin (`mist-plugin.pspz2`).

pub mod pandora_plugin;
