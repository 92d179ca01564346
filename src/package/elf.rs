//! What an executable asks of the C library: the highest `GLIBC_x.y` symbol version among its
//! version needs (`SHT_GNU_VERNEED`), which is what the dynamic loader refuses to start it
//! without. The same figure `scripts/check-glibc` reads from `objdump -T`.

use std::fmt;
use std::str::FromStr;

use object::read::elf::{ElfFile32, ElfFile64, FileHeader};
use object::{FileKind, ReadRef};

/// A glibc version, `2.17` — ordered as numbers, so 2.9 < 2.17.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GlibcVersion {
    pub major: u32,
    pub minor: u32,
}

impl GlibcVersion {
    /// CentOS 7's, the oldest system the shipped binaries run on.
    pub const PORTABLE: GlibcVersion = GlibcVersion {
        major: 2,
        minor: 17,
    };
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for GlibcVersion {
    type Err = String;

    /// `2.17`; a third part (`2.3.4`, as in `GLIBC_2.3.4`) is accepted and ignored, since
    /// glibc releases are numbered by their first two.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.split('.');
        let mut number = || parts.next().and_then(|part| part.parse::<u32>().ok());
        match (number(), number()) {
            (Some(major), Some(minor)) => Ok(GlibcVersion { major, minor }),
            _ => Err(format!(
                "expected a glibc version such as 2.17, found {text:?}"
            )),
        }
    }
}

/// Why an executable's needs could not be read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable ELF executable: {0}")]
pub struct ElfError(String);

/// The highest `GLIBC_` version `bytes` (an ELF executable) needs; `None` for one that needs
/// none (a static binary).
pub fn glibc_needed(bytes: &[u8]) -> Result<Option<GlibcVersion>, ElfError> {
    let error = |e: object::Error| ElfError(e.to_string());
    match FileKind::parse(bytes).map_err(error)? {
        FileKind::Elf64 => {
            highest_need(&ElfFile64::<object::Endianness>::parse(bytes).map_err(error)?)
        }
        FileKind::Elf32 => {
            highest_need(&ElfFile32::<object::Endianness>::parse(bytes).map_err(error)?)
        }
        other => Err(ElfError(format!("{other:?} is not ELF"))),
    }
}

fn highest_need<'data, Elf: FileHeader, R: ReadRef<'data>>(
    file: &object::read::elf::ElfFile<'data, Elf, R>,
) -> Result<Option<GlibcVersion>, ElfError> {
    let error = |e: object::Error| ElfError(e.to_string());
    let endian = file.endian();
    let sections = file.elf_section_table();
    let Some((mut needs, strings_index)) =
        sections.gnu_verneed(endian, file.data()).map_err(error)?
    else {
        return Ok(None);
    };
    let strings = sections
        .strings(endian, file.data(), strings_index)
        .map_err(error)?;
    let mut highest = None;
    while let Some((_, mut versions)) = needs.next().map_err(error)? {
        while let Some(version) = versions.next().map_err(error)? {
            let name = version.name(endian, strings).map_err(error)?;
            let parsed = std::str::from_utf8(name)
                .ok()
                .and_then(|name| name.strip_prefix("GLIBC_"))
                .and_then(|number| number.parse::<GlibcVersion>().ok());
            highest = highest.max(parsed);
        }
    }
    Ok(highest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_numbers() {
        let parse = |text: &str| text.parse::<GlibcVersion>().unwrap();
        assert!(parse("2.9") < parse("2.17"));
        assert!(parse("2.17") < parse("2.34"));
        assert_eq!(parse("2.3.4"), parse("2.3"));
        assert_eq!(GlibcVersion::PORTABLE.to_string(), "2.17");
        assert!("2".parse::<GlibcVersion>().is_err());
        assert!("two.17".parse::<GlibcVersion>().is_err());
    }

    #[test]
    fn a_file_that_is_not_elf_is_an_error() {
        assert!(glibc_needed(b"#!/bin/sh\necho 1\n").is_err());
        assert!(glibc_needed(b"\x7fELF\x02\x01").is_err());
    }
}
