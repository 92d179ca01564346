use super::*;
use serde_json::json;

const REST: &str = r#"{"source":"STLNK","severity":"WARNING","details":{"nameService":"s","nameLink":"l","valueLink":"OFF"},"timestamp":"2026-11-21 09:15:42.317"}"#;

fn received() -> Timestamp {
    "2026-11-21T10:00:00.123Z".parse().unwrap()
}

fn read_all(input: &str) -> Vec<Decoded> {
    let mut reader = AuditReader::new(input.as_bytes()).received_at(received());
    let mut all = Vec::new();
    while let Some(decoded) = reader.next_audit().unwrap() {
        all.push(decoded);
    }
    all
}

/// Each result as `Ok(source)` or `Err(message)`.
fn outline(input: &str) -> Vec<Result<String, String>> {
    read_all(input)
        .into_iter()
        .map(|d| match d.result {
            Ok(audit) => Ok(audit["source"].as_str().unwrap().to_owned()),
            Err(error) => Err(error.message),
        })
        .collect()
}

#[test]
fn json_lines_give_one_audit_per_line_and_a_bad_line_loses_nothing_else() {
    let input = format!(
        "{REST}\n\nnot json\n\r\n{}\n",
        REST.replace("STLNK", "STCHA")
    );
    let results = outline(&input);
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[0], Ok("STLNK".to_owned()));
    let error = results[1].clone().unwrap_err();
    assert!(error.starts_with("line 3: not JSON"), "{error}");
    assert_eq!(results[2], Ok("STCHA".to_owned()));
    assert_eq!(read_all(&input)[1].raw.as_deref(), Some("not json"));
}

#[test]
fn a_truncated_line_is_its_own_error_and_reading_resumes_after_it() {
    let input = format!("{{\"source\": \"STLNK\", \"sever\n{REST}\n{REST}\n");
    let results = outline(&input);
    assert_eq!(results.len(), 3, "{results:?}");
    let error = results[0].clone().unwrap_err();
    assert!(error.starts_with("line 1: truncated JSON"), "{error}");
    assert_eq!(
        results[1..],
        [Ok("STLNK".to_owned()), Ok("STLNK".to_owned())]
    );
    assert_eq!(
        read_all(&input)[0].raw.as_deref(),
        Some("{\"source\": \"STLNK\", \"sever")
    );
}

#[test]
fn documents_spanning_lines_are_read_whole_and_may_follow_each_other() {
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(REST).unwrap()).unwrap();
    let list = format!(
        "{{\"audit\": [\n  {REST},\n  {}\n], \"totalCount\": 2}}",
        REST.replace("STLNK", "START")
    );
    let input = format!("{pretty}\n{list}\n{pretty}{pretty}\n[{REST},\n{REST}]\n");
    let results = outline(&input);
    let sources: Vec<&str> = results.iter().map(|r| r.as_deref().unwrap()).collect();
    assert_eq!(
        sources,
        [
            "STLNK", "STLNK", "START", "STLNK", "STLNK", "STLNK", "STLNK"
        ]
    );
}

#[test]
fn errors_inside_a_document_name_its_first_line_and_the_element() {
    let input = format!("{REST}\n[\n  {REST},\n  {{\"source\": \"STLNK\"}}\n]\n");
    let results = outline(&input);
    assert_eq!(results.len(), 3, "{results:?}");
    let error = results[2].clone().unwrap_err();
    assert!(error.starts_with("line 2, index 1: "), "{error}");
    assert_eq!(read_all(&input)[2].raw, None);
}

#[test]
fn an_unclosed_document_is_one_error_with_its_text() {
    let all = read_all("this is { not an audit\n");
    assert_eq!(all.len(), 1);
    assert!(all[0].result.is_err());
    assert_eq!(all[0].raw.as_deref(), Some("this is { not an audit"));

    let all = read_all("{\n  \"source\": \"STLNK\",\n  \"severity\": \"WARNING\"\n");
    assert_eq!(all.len(), 1);
    let Err(error) = &all[0].result else {
        panic!("accepted: {all:?}");
    };
    assert!(
        matches!(error.kind, AuditErrorKind::TruncatedJson { .. }),
        "{error}"
    );
}

#[test]
fn normalised_like_the_whole_input_decoder() {
    let input = format!(
        "{REST}\n{}\n{}\n",
        r#"{"code":"START","level":4,"log":{}}"#,
        r#"{"details":{"a":{"b":[1,2]}},"severity":"INFORMATION","source":"CONCH","timestamp":"2026-11-21 09:15:42.317"}"#
    );
    let streamed: Vec<Value> = read_all(&input)
        .into_iter()
        .map(|d| d.result.unwrap())
        .collect();
    let whole: Vec<Value> = super::super::decode_input_at(input.as_bytes(), received())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(streamed, whole);
    assert_eq!(streamed[1]["timestamp"], json!("2026-11-21T10:00:00.123Z"));
}

/// Input that hands out one line, then fails if read again: the reader must give the line's
/// audit without asking for more.
struct OneLineThenFail {
    line: Option<Vec<u8>>,
}

impl Read for OneLineThenFail {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.line.take() {
            Some(line) => {
                buf[..line.len()].copy_from_slice(&line);
                Ok(line.len())
            }
            None => Err(io::Error::other("read past the first line")),
        }
    }
}

#[test]
fn a_line_is_handed_out_before_anything_more_is_read() {
    let mut reader = AuditReader::new(OneLineThenFail {
        line: Some(format!("{REST}\n").into_bytes()),
    });
    let first = reader.next_audit().unwrap().unwrap();
    assert_eq!(first.result.unwrap()["source"], "STLNK");
    assert!(reader.next_audit().is_err());
}

/// Endless JSON lines, `count` of them.
struct Lines {
    count: usize,
    partial: Vec<u8>,
}

impl Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.partial.is_empty() {
            if self.count == 0 {
                return Ok(0);
            }
            self.count -= 1;
            self.partial = format!("{REST}\n").into_bytes();
        }
        let n = buf.len().min(self.partial.len());
        buf[..n].copy_from_slice(&self.partial[..n]);
        self.partial.drain(..n);
        Ok(n)
    }
}

#[test]
fn the_buffer_stays_small_whatever_the_input_size() {
    let mut reader = AuditReader::new(Lines {
        count: 20_000,
        partial: Vec::new(),
    });
    let mut audits = 0;
    while let Some(decoded) = reader.next_audit().unwrap() {
        decoded.result.unwrap();
        audits += 1;
        assert!(
            reader.buffer.len() <= 2 * READ_SIZE,
            "{}",
            reader.buffer.len()
        );
    }
    assert_eq!(audits, 20_000);
}
