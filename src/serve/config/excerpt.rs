//! The YAML reader's errors quote the lines around the mistake; a line that holds a secret
//! (an inline community, a misspelt passphrase or token key) must not reach the terminal or
//! the logs, so such lines are replaced before the error is shown.

/// Key fragments of settings whose values are secrets.
const SECRET_KEYS: [&str; 4] = ["community", "pass", "token", "secret"];

/// Whether a line of the configuration holds a secret setting.
fn holds_secret(line: &str) -> bool {
    let line = line.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|key| line.contains(key))
}

/// `rendered` with every quoted line of `source` that holds a secret replaced by a note. The
/// decision is made on the whole line of the file, not on the (possibly shortened) excerpt.
pub(super) fn without_secret_lines(source: &str, rendered: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut shown = String::with_capacity(rendered.len());
    for excerpt_line in rendered.lines() {
        let number = excerpt_line
            .split_once(" | ")
            .or_else(|| excerpt_line.split_once(" |"))
            .and_then(|(gutter, _)| gutter.trim().parse::<usize>().ok());
        match number.and_then(|n| lines.get(n.wrapping_sub(1)).map(|line| (n, line))) {
            Some((n, line)) if holds_secret(line) => {
                let gutter = excerpt_line
                    .split_once('|')
                    .map_or("", |(gutter, _)| gutter);
                shown.push_str(gutter);
                shown.push_str(&format!("| (line {n} holds a secret setting; not shown)"));
            }
            _ => shown.push_str(excerpt_line),
        }
        shown.push('\n');
    }
    if !rendered.ends_with('\n') {
        shown.pop();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_lines_with_secrets_are_replaced_by_their_line_number() {
        let source = "a: 1\n  - {name: n, community: s3cret, x: 1}\nb: 2\n";
        let rendered = "error: line 2\n --> <input>:2:5\n  |\n1 | a: 1\n2 | …ty: s3cret, x: 1}\n  |   ^ here\n3 | b: 2";
        let shown = without_secret_lines(source, rendered);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("2 | (line 2 holds a secret setting; not shown)"),
            "{shown}"
        );
        assert!(
            shown.contains("1 | a: 1") && shown.contains("3 | b: 2"),
            "{shown}"
        );
        assert!(shown.contains("^ here"), "{shown}");
    }
}
