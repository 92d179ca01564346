//! Opening the queue: the segments on disk, the last one read through (damage skipped, a torn
//! tail cut), the positions loaded and checked against them. Every repair goes toward
//! redelivery, never toward skipping, and is logged with the records it concerns.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::positions::{self, Loaded, Positions};
use super::segment::{Format, recover_segment};
use super::{QueueError, Segment, State, io_error};

pub(super) struct Opened {
    pub state: State,
    pub positions_path: PathBuf,
}

/// Creates `dir` private to the daemon's user (0700), and makes an existing one so.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let permissions = fs::metadata(dir)?.permissions();
    if permissions.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn list_segments(dir: &Path) -> Result<BTreeMap<u64, Segment>, QueueError> {
    let mut segments = BTreeMap::new();
    for entry in fs::read_dir(dir).map_err(io_error("cannot read", dir))? {
        let entry = entry.map_err(io_error("cannot read", dir))?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_prefix("seg-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let file = fs::File::open(&path).map_err(io_error("cannot open", &path))?;
        let metadata = file.metadata().map_err(io_error("cannot read", &path))?;
        if metadata.permissions().mode() & 0o077 != 0 {
            // Segments written by earlier versions were readable by everyone.
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io_error("cannot restrict", &path))?;
        }
        let format = Format::of(&file, metadata.len()).map_err(io_error("cannot read", &path))?;
        segments.insert(
            first,
            Segment {
                path,
                len: metadata.len(),
                format,
            },
        );
    }
    Ok(segments)
}

fn records(count: u64) -> String {
    match count {
        1 => "1 record".to_owned(),
        n => format!("{n} records"),
    }
}

pub(super) fn open_state(dir: &Path) -> Result<Opened, QueueError> {
    private_dir(dir).map_err(io_error("cannot create", dir))?;
    let mut segments = list_segments(dir)?;
    let mut reported = HashSet::new();
    let mut end = 0;
    let mut cut = None;
    if let Some((&first, last)) = segments.iter_mut().next_back() {
        let recovered = recover_segment(&last.path, first)?;
        last.len = recovered.len;
        last.format = recovered.format;
        for damage in &recovered.damage {
            reported.insert((first, damage.offset));
            let lost = damage.lost.end - damage.lost.start;
            let seqs = match lost {
                0 => String::new(),
                1 => format!(", sequence number {}", damage.lost.start),
                _ => format!(
                    ", sequence numbers {} to {}",
                    damage.lost.start,
                    damage.lost.end - 1
                ),
            };
            tracing::error!(
                "queue: {} is damaged at byte {} ({}, {} bytes): {} lost{seqs}; the records \
                 after it are kept",
                last.path.display(),
                damage.offset,
                damage.reason,
                damage.bytes,
                records(lost),
            );
        }
        let format = recovered.format;
        cut = recovered
            .cut
            .map(|(bytes, reason)| (last.path.clone(), bytes, reason, format));
        end = recovered.next_seq;
    }
    let oldest = segments.keys().next().copied().unwrap_or(end).min(end);
    let kept = end - oldest;
    let holds_records = segments.values().any(|s| s.len > 0);

    let positions_path = dir.join("positions");
    let legacy_dir = dir.join("cursors");
    let mut cursors = BTreeMap::new();
    let mut high_water = 0;
    let mut unknown_from_oldest = false;
    let mut save = true;
    let mut migrated = false;
    match positions::load(&positions_path) {
        Loaded::Good(loaded) => {
            save = false;
            high_water = loaded.high_water;
            for (name, seq) in loaded.readers {
                let seq = if seq > high_water {
                    tracing::error!(
                        "queue: the position of {name} ({seq}) is past the end of the queue \
                         ({high_water}) in {}: it starts again at the oldest record kept \
                         ({oldest}); up to {} may be delivered to it twice",
                        positions_path.display(),
                        records(kept)
                    );
                    save = true;
                    oldest
                } else {
                    seq
                };
                cursors.insert(name, seq);
            }
        }
        Loaded::Missing => match positions::load_legacy(&legacy_dir) {
            Some(legacy) => {
                migrated = true;
                for (name, value) in legacy {
                    match value {
                        Ok(seq) if seq <= end => {
                            cursors.insert(name, seq);
                        }
                        Ok(seq) => {
                            // Never reuse a number a reader may have passed.
                            high_water = high_water.max(seq);
                            tracing::error!(
                                "queue: the cursor of {name} ({seq}) is past the end of the \
                                 queue ({end}): it starts again at the oldest record kept \
                                 ({oldest}); up to {} may be delivered to it twice",
                                records(kept)
                            );
                            cursors.insert(name, oldest);
                        }
                        Err(reason) => {
                            tracing::error!(
                                "queue: the cursor of {name} is damaged ({reason}): it starts \
                                 again at the oldest record kept ({oldest}); up to {} may be \
                                 delivered to it twice",
                                records(kept)
                            );
                            cursors.insert(name, oldest);
                        }
                    }
                }
                tracing::info!(
                    "queue: the cursors of {} are moved to {}",
                    legacy_dir.display(),
                    positions_path.display()
                );
            }
            None if holds_records => {
                tracing::error!(
                    "queue: the positions file {} is missing although the queue holds \
                     records: every destination starts again at the oldest record kept \
                     ({oldest}); up to {} may be delivered twice",
                    positions_path.display(),
                    records(kept)
                );
                unknown_from_oldest = true;
                // Left as it is until the readers are opened: a file without them, written
                // now, would make them look new at the next start.
                save = false;
            }
            None => {}
        },
        Loaded::Damaged(reason) => {
            tracing::error!(
                "queue: the positions file {} is damaged ({reason}): every destination starts \
                 again at the oldest record kept ({oldest}); up to {} may be delivered twice",
                positions_path.display(),
                records(kept)
            );
            unknown_from_oldest = true;
            save = false;
        }
    }
    let furthest = cursors.values().copied().max().unwrap_or(0);
    let next_seq = end.max(high_water).max(furthest);
    if next_seq > end {
        // Records numbered below the high-water mark are gone from the end of the queue: a
        // tail lost to a power cut (`sync: os`) or a deleted segment. Their numbers are not
        // given again, so every reader past them still sees the new records.
        let undelivered: Vec<String> = cursors
            .iter()
            .filter(|(_, seq)| **seq < next_seq)
            .map(|(name, seq)| format!("{name} {}", records(next_seq - (*seq).max(end))))
            .collect();
        let path = segments.values().next_back().map_or_else(
            || dir.display().to_string(),
            |s| s.path.display().to_string(),
        );
        let undelivered = if undelivered.is_empty() {
            "every destination had them already".to_owned()
        } else {
            format!("never delivered, so lost: {}", undelivered.join(", "))
        };
        tracing::error!(
            "queue: {} acknowledged before the stop ({end} to {}) are missing from the end of \
             {path} (a power loss with `sync: os`, or damage); {undelivered}; new records are \
             numbered from {next_seq}",
            records(next_seq - end),
            next_seq - 1,
        );
    } else if let Some((path, bytes, reason, format)) = cut {
        if format == Format::Legacy || reason.contains("checksum") {
            // A whole-length record that fails its checksum is more likely damage than a torn
            // write; in the earlier format, damage cannot be told from a torn tail at all.
            tracing::error!(
                "queue: {} ends with {bytes} bytes that are no whole record ({reason}): cut \
                 off; if they were not a write torn by a crash, the records in them are lost",
                path.display()
            );
        } else {
            tracing::warn!(
                "queue: {} ends with {bytes} bytes that are no whole record ({reason}): a \
                 write torn by a crash, never acknowledged; cut off",
                path.display()
            );
        }
    }
    for (name, seq) in &cursors {
        if *seq < oldest && holds_records {
            tracing::info!(
                "queue: {name} was at {seq}, before the oldest record kept ({oldest}): the \
                 records between were delivered to every destination and deleted"
            );
        }
    }
    if save {
        let bytes = positions::encode(&Positions {
            high_water: next_seq,
            readers: cursors.clone(),
        });
        match crate::files::replace(&positions_path, &bytes) {
            Ok(()) if migrated => {
                if let Err(error) = fs::remove_dir_all(&legacy_dir) {
                    tracing::warn!("queue: cannot remove {}: {error}", legacy_dir.display());
                }
            }
            Ok(()) => {}
            Err(error) => tracing::error!(
                "queue: cannot write {}: {error}; it is written again later",
                positions_path.display()
            ),
        }
    }
    Ok(Opened {
        state: State {
            segments,
            next_seq,
            cursors,
            unknown_from_oldest,
            reported,
            closed: false,
        },
        positions_path,
    })
}
