use std::time::Duration;

use super::*;
use crate::serve::config::SyncPolicy;
use std::fs;
use std::path::{Path, PathBuf};

fn config() -> QueueConfig {
    QueueConfig {
        max_bytes: 1024 * 1024,
        segment_bytes: 256,
        sync: SyncPolicy::Always,
    }
}

fn payload(n: u64) -> Vec<u8> {
    format!("record {n:04}").into_bytes()
}

fn read_all(reader: &mut Reader) -> Vec<Record> {
    let mut records = Vec::new();
    while let Some(record) = reader.next(Duration::from_millis(20)).unwrap() {
        records.push(record);
    }
    records
}

#[test]
fn records_come_back_in_order_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(dir.path(), config()).unwrap();
    let mut reader = queue.reader("a").unwrap();
    for n in 0..50 {
        let receipt = queue.append_wait(vec![payload(n)]).unwrap();
        assert_eq!(receipt, Receipt { first: n, count: 1 });
    }
    let records = read_all(&mut reader);
    assert_eq!(records.len(), 50);
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 && r.payload == payload(i as u64))
    );
    reader.persist(20).unwrap();
    drop(reader);
    drop(queue);

    let queue = Queue::open(dir.path(), config()).unwrap();
    let mut reader = queue.reader("a").unwrap();
    let records = read_all(&mut reader);
    assert_eq!(records.first().map(|r| r.seq), Some(20));
    assert_eq!(records.len(), 30);
    assert_eq!(queue.append_wait(vec![payload(50)]).unwrap().first, 50);
}

#[test]
fn finished_segments_are_deleted_only_when_every_reader_is_past_them() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(dir.path(), config()).unwrap();
    let mut fast = queue.reader("fast").unwrap();
    let slow = queue.reader("slow").unwrap();
    for n in 0..60 {
        queue.append_wait(vec![payload(n)]).unwrap();
    }
    let segments = || {
        fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("seg-")
            })
            .count()
    };
    let before = segments();
    assert!(before > 3, "{before}");
    read_all(&mut fast);
    fast.persist(60).unwrap();
    assert_eq!(segments(), before, "the slow reader still needs them");
    drop(slow);
    let mut slow = queue.reader("slow").unwrap();
    assert_eq!(read_all(&mut slow).len(), 60);
    slow.persist(60).unwrap();
    assert_eq!(segments(), 1, "only the active segment is left");
}

#[test]
fn a_torn_tail_is_cut_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let one_segment = QueueConfig {
        segment_bytes: 1 << 20,
        ..config()
    };
    {
        let queue = Queue::open(dir.path(), one_segment).unwrap();
        queue.reader("a").unwrap();
        for n in 0..10 {
            queue.append_wait(vec![payload(n)]).unwrap();
        }
    }
    let segment = dir.path().join(format!("seg-{:020}.log", 0));
    let whole = fs::read(&segment).unwrap();
    // Every way a crash can tear the last record: a partial header, a partial payload,
    // a damaged payload, and zeros where the file was extended but not written.
    let record_len = HEADER_LEN + payload(9).len();
    let last_start = whole.len() - record_len;
    let mut damaged = whole.clone();
    damaged[last_start + HEADER_LEN + 2] ^= 0xff;
    let mut zeros = whole[..last_start].to_vec();
    zeros.extend(std::iter::repeat_n(0u8, 40));
    for tail in [
        whole[..last_start + 5].to_vec(),
        whole[..whole.len() - 3].to_vec(),
        damaged,
        zeros,
    ] {
        fs::write(&segment, &tail).unwrap();
        let queue = Queue::open(dir.path(), one_segment).unwrap();
        let mut reader = queue.reader("a").unwrap();
        let records = read_all(&mut reader);
        assert_eq!(records.len(), 9);
        assert_eq!(records[8].payload, payload(8));
        assert_eq!(fs::metadata(&segment).unwrap().len(), last_start as u64);
        // The next append reuses the torn record's sequence number.
        assert_eq!(queue.append_wait(vec![payload(99)]).unwrap().first, 9);
        drop(reader);
        drop(queue);
        fs::write(&segment, &whole).unwrap();
    }
}

#[test]
fn a_full_queue_refuses_appends_until_readers_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(
        dir.path(),
        QueueConfig {
            max_bytes: 300,
            segment_bytes: 100,
            sync: SyncPolicy::Os,
        },
    )
    .unwrap();
    let mut reader = queue.reader("a").unwrap();
    let mut accepted = 0;
    let error = loop {
        match queue.append_wait(vec![payload(accepted)]) {
            Ok(_) => accepted += 1,
            Err(error) => break error,
        }
    };
    assert!(matches!(error, QueueError::Full { .. }), "{error}");
    assert_eq!(read_all(&mut reader).len() as u64, accepted);
    reader.persist(accepted).unwrap();
    queue.append_wait(vec![payload(accepted)]).unwrap();
}

#[test]
fn a_new_reader_starts_after_what_is_already_queued() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(dir.path(), config()).unwrap();
    let _first = queue.reader("first").unwrap();
    queue.append_wait(vec![payload(0), payload(1)]).unwrap();
    let mut late = queue.reader("late").unwrap();
    assert_eq!(late.position(), 2);
    queue.append_wait(vec![payload(2)]).unwrap();
    let records = read_all(&mut late);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].seq, 2);
}

#[test]
fn close_commits_pending_appends_then_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::open(dir.path(), config()).unwrap();
    let (sender, receiver) = mpsc::channel();
    for n in 0..100 {
        let sender = sender.clone();
        queue.append(
            vec![payload(n)],
            Box::new(move |result| {
                let _ = sender.send(result.is_ok());
            }),
        );
    }
    queue.close();
    drop(sender);
    assert_eq!(receiver.iter().filter(|ok| *ok).count(), 100);
    assert!(matches!(
        queue.append_wait(vec![payload(0)]),
        Err(QueueError::Closed)
    ));
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .collect();
    paths.sort();
    paths
}

/// Byte offsets of the records of a marked segment, found by walking their lengths.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + HEADER_LEN <= bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += HEADER_LEN + len;
    }
    offsets
}

fn seqs(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

/// Fills a one-segment queue with `count` records, all read and finished by reader `a`
/// when `delivered`, then closes it.
fn filled(dir: &Path, count: u64, delivered: bool) {
    let queue = Queue::open(dir, one_segment()).unwrap();
    let mut reader = queue.reader("a").unwrap();
    for n in 0..count {
        queue.append_wait(vec![payload(n)]).unwrap();
    }
    if delivered {
        assert_eq!(read_all(&mut reader).len() as u64, count);
        reader.persist(count).unwrap();
    }
}

fn one_segment() -> QueueConfig {
    QueueConfig {
        segment_bytes: 1 << 20,
        ..config()
    }
}

#[test]
fn one_flipped_byte_or_bad_length_costs_exactly_one_record() {
    // In the active segment (found at open) and in a sealed one (found by the reader).
    for (config, count) in [(one_segment(), 200), (config(), 60)] {
        for damage in ["payload byte", "length field", "marker"] {
            let dir = tempfile::tempdir().unwrap();
            {
                let queue = Queue::open(dir.path(), config).unwrap();
                queue.reader("a").unwrap();
                for n in 0..count {
                    queue.append_wait(vec![payload(n)]).unwrap();
                }
            }
            let segment = segment_paths(dir.path())[0].clone();
            let mut bytes = fs::read(&segment).unwrap();
            let at = record_offsets(&bytes)[2];
            match damage {
                "payload byte" => bytes[at + HEADER_LEN + 3] ^= 0x01,
                "length field" => bytes[at + 5] ^= 0x10,
                _ => bytes[at] ^= 0xff,
            }
            fs::write(&segment, &bytes).unwrap();

            let queue = Queue::open(dir.path(), config).unwrap();
            let mut reader = queue.reader("a").unwrap();
            let records = read_all(&mut reader);
            let expected: Vec<u64> = (0..count).filter(|&n| n != 2).collect();
            assert_eq!(seqs(&records), expected, "{damage}, {count} records");
            assert!(records.iter().all(|r| r.payload == payload(r.seq)));
            assert_eq!(
                queue.append_wait(vec![payload(count)]).unwrap().first,
                count
            );
        }
    }
}

#[test]
fn a_torn_tail_below_the_high_water_mark_never_gets_its_numbers_reused() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 200, true);
    let segment = segment_paths(dir.path())[0].clone();
    let bytes = fs::read(&segment).unwrap();
    // The second half of the file is gone, cut mid-record.
    fs::write(&segment, &bytes[..bytes.len() / 2 + 7]).unwrap();

    let queue = Queue::open(dir.path(), one_segment()).unwrap();
    let mut reader = queue.reader("a").unwrap();
    assert_eq!(queue.next_seq(), 200);
    assert_eq!(queue.append_wait(vec![payload(200)]).unwrap().first, 200);
    let records = read_all(&mut reader);
    assert_eq!(seqs(&records), [200]);
}

#[test]
fn damaged_or_missing_positions_send_every_reader_back_to_the_oldest_record() {
    let damages: [(&str, Option<Vec<u8>>); 5] = [
        ("garbage", Some(b"\x00\x17garbage\n".to_vec())),
        ("empty", Some(Vec::new())),
        ("deleted", None),
        ("too large", Some(vec![b'9'; 3 << 20])),
        (
            "past the end",
            Some(positions::encode(&positions::Positions {
                high_water: 30,
                readers: [("a".to_owned(), 1_000_000)].into(),
            })),
        ),
    ];
    for (what, content) in damages {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path(), 30, false);
        let path = dir.path().join("positions");
        match content {
            Some(bytes) => fs::write(&path, bytes).unwrap(),
            None => fs::remove_file(&path).unwrap(),
        }
        // A start that stops before opening its readers must not hide the damage.
        drop(Queue::open(dir.path(), one_segment()).unwrap());
        let queue = Queue::open(dir.path(), one_segment()).unwrap();
        let mut reader = queue.reader("a").unwrap();
        queue.forget_readers_except(&["a".to_owned()]).unwrap();
        let records = read_all(&mut reader);
        assert_eq!(seqs(&records), (0..30).collect::<Vec<_>>(), "{what}");
        // The next record is not dropped, and a destination added later starts at the end.
        queue.append_wait(vec![payload(30)]).unwrap();
        assert_eq!(seqs(&read_all(&mut reader)), [30], "{what}");
        assert_eq!(queue.reader("b").unwrap().position(), 31, "{what}");
        // Repaired: the next start finds good positions.
        reader.persist(31).unwrap();
        drop(reader);
        drop(queue);
        assert!(
            matches!(positions::load(&path), positions::Loaded::Good(p) if p.readers["a"] == 31),
            "{what}"
        );
    }
}

#[test]
fn a_fresh_queue_and_an_emptied_one_start_new_readers_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path(), 10, true);
    fs::remove_file(dir.path().join("positions")).unwrap();
    // Everything was delivered and only an empty segment is left: nothing to redeliver.
    let queue = Queue::open(dir.path(), config()).unwrap();
    queue.append_wait(vec![payload(10)]).unwrap();
    let reader = queue.reader("a").unwrap();
    assert!(reader.position() <= 10);
}

#[test]
fn segments_and_cursors_of_the_earlier_format_are_read_and_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let legacy_frame = |seq: u64, payload: &[u8], out: &mut Vec<u8>| {
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&seq.to_le_bytes());
        hasher.update(payload);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&hasher.finalize().to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(payload);
    };
    let mut old = Vec::new();
    for n in 0..5 {
        legacy_frame(n, &payload(n), &mut old);
    }
    // A torn last record, as a crash leaves it.
    old.extend_from_slice(&[9, 0, 0]);
    fs::write(dir.path().join(format!("seg-{:020}.log", 0)), &old).unwrap();
    fs::create_dir(dir.path().join("cursors")).unwrap();
    fs::write(dir.path().join("cursors/a"), "2\n").unwrap();

    let queue = Queue::open(dir.path(), config()).unwrap();
    let mut reader = queue.reader("a").unwrap();
    assert_eq!(queue.append_wait(vec![payload(5)]).unwrap().first, 5);
    let records = read_all(&mut reader);
    assert_eq!(seqs(&records), [2, 3, 4, 5]);
    assert!(records.iter().all(|r| r.payload == payload(r.seq)));
    assert!(!dir.path().join("cursors").exists());
    assert_eq!(
        segment_paths(dir.path()).len(),
        2,
        "appends go to a new segment"
    );
}

#[cfg(unix)]
#[test]
fn the_queue_folder_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("queue");
    fs::create_dir(&queue_dir).unwrap();
    fs::set_permissions(&queue_dir, fs::Permissions::from_mode(0o755)).unwrap();
    filled(&queue_dir, 3, true);
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&queue_dir), 0o700);
    assert_eq!(mode(&queue_dir.join("positions")), 0o600);
    for segment in segment_paths(&queue_dir) {
        assert_eq!(mode(&segment), 0o600);
    }
}
