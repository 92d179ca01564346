//! Tokens of an SMIv2 module: ASN.1's lexical rules, as much as MIB files use.

use super::MibError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name or keyword (`pmcDate`, `OBJECT-TYPE`, `SIZE`).
    Word(String),
    /// A decimal number, possibly negative.
    Number(i128),
    /// A quoted string; its text is not needed, only that it is one token.
    Str,
    /// `'0A'H` or `'1010'B`.
    HexBin(String),
    /// Punctuation: `::=`, `..`, and single characters.
    Punct(&'static str),
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    /// Byte offsets in the text, to quote a clause as written.
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn is_word(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w == word)
    }

    pub fn is_punct(&self, punct: &str) -> bool {
        matches!(&self.tok, Tok::Punct(p) if *p == punct)
    }

    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

const PUNCTS: [&str; 10] = ["{", "}", "(", ")", "[", "]", ",", ";", "|", "."];

/// Splits a module's text into tokens; `--` comments run to the next `--` or the line's end.
pub fn tokens(file: &str, text: &str) -> Result<Vec<Token>, MibError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut line: u32 = 1;
    let mut i = 0;
    let error = |line: u32, message: String| MibError::At {
        file: file.to_owned(),
        line,
        message,
    };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i += 2;
                while i < bytes.len() && bytes[i] != b'\n' {
                    if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            b'"' => {
                let first_line = line;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(error(first_line, "string not terminated".to_owned()));
                        }
                        // `""` inside a string is one quote (the SMI macros use it).
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
                out.push(Token {
                    tok: Tok::Str,
                    line: first_line,
                    start,
                    end: i,
                });
            }
            b'\'' => {
                let close = text[i + 1..].find('\'').map(|p| i + 1 + p).ok_or_else(|| {
                    error(line, "quoted binary or hex string not terminated".into())
                })?;
                let digits = &text[i + 1..close];
                let kind = bytes.get(close + 1).copied();
                if !matches!(kind, Some(b'H' | b'h' | b'B' | b'b')) || digits.contains('\n') {
                    return Err(error(line, format!("'{digits}' must end in 'H or 'B")));
                }
                i = close + 2;
                out.push(Token {
                    tok: Tok::HexBin(format!("'{digits}'{}", kind.unwrap_or(b'H') as char)),
                    line,
                    start,
                    end: i,
                });
            }
            b':' if text[i..].starts_with("::=") => {
                i += 3;
                out.push(Token {
                    tok: Tok::Punct("::="),
                    line,
                    start,
                    end: i,
                });
            }
            b'.' if bytes.get(i + 1) == Some(&b'.') => {
                i += 2;
                out.push(Token {
                    tok: Tok::Punct(".."),
                    line,
                    start,
                    end: i,
                });
            }
            c if c.is_ascii_digit()
                || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let digits = &text[start..i];
                let value = digits
                    .parse::<i128>()
                    .map_err(|_| error(line, format!("number {digits} is too large")))?;
                out.push(Token {
                    tok: Tok::Number(value),
                    line,
                    start,
                    end: i,
                });
            }
            c if c.is_ascii_alphabetic() => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
                {
                    // `--` starts a comment, even right after a name.
                    if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
                        break;
                    }
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Word(text[start..i].to_owned()),
                    line,
                    start,
                    end: i,
                });
            }
            _ => {
                let punct = PUNCTS
                    .iter()
                    .find(|p| p.as_bytes()[0] == c)
                    .ok_or_else(|| {
                        let shown = text[i..].chars().next().unwrap_or('?');
                        error(line, format!("unexpected character {shown:?}"))
                    })?;
                i += 1;
                out.push(Token {
                    tok: Tok::Punct(punct),
                    line,
                    start,
                    end: i,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokens("t", text)
            .unwrap()
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn comments_strings_and_punctuation() {
        assert_eq!(
            toks("a-b ::= { x 1 } -- note -- c\n\"say \"\"hi\"\"\" (0..-5) 'ff'H"),
            vec![
                Tok::Word("a-b".into()),
                Tok::Punct("::="),
                Tok::Punct("{"),
                Tok::Word("x".into()),
                Tok::Number(1),
                Tok::Punct("}"),
                Tok::Word("c".into()),
                Tok::Str,
                Tok::Punct("("),
                Tok::Number(0),
                Tok::Punct(".."),
                Tok::Number(-5),
                Tok::Punct(")"),
                Tok::HexBin("'ff'H".into()),
            ]
        );
    }

    #[test]
    fn lines_are_counted_through_strings() {
        let t = tokens("t", "a \"x\ny\"\n  b").unwrap();
        assert_eq!(t[2].line, 3);
        assert!(t[2].is_word("b"));
    }

    #[test]
    fn bad_text_names_the_line() {
        let error = tokens("F.txt", "a\n\"open").unwrap_err();
        assert_eq!(error.to_string(), "F.txt:2: string not terminated");
        let error = tokens("F.txt", "a\n\nb @").unwrap_err();
        assert_eq!(error.to_string(), "F.txt:3: unexpected character '@'");
    }
}
