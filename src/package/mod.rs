//! Packages operators install: the Pandora FMS server plugin (`mist-plugin.pspz2`), and
//! what it checks of the executable it ships (`elf`).

pub mod elf;
pub mod pandora_plugin;
