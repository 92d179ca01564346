//! The Mist API token: kept out of every log line, error message and debug print.

use std::fmt;

/// A Mist API token. `Debug` and `Display` print a mask, never the secret, so the token
/// cannot leak through a log line, an error or a `{:?}` of the options holding it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

/// Why a token was refused before any request was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Mist API token is empty")]
    Empty,
    // The offending text is the token itself, so the message must not quote it.
    #[error(
        "the Mist API token contains characters an HTTP header cannot carry (spaces, control characters or non-ASCII)"
    )]
    NotHeaderSafe,
}

impl ApiToken {
    /// Accepts a token as given on the command line or in `MIST_API_TOKEN`; surrounding
    /// whitespace (a trailing newline from a secrets file) is dropped.
    pub fn new(text: &str) -> Result<ApiToken, TokenError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotHeaderSafe);
        }
        Ok(ApiToken(token.to_owned()))
    }

    /// The secret itself: only for the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A form safe to log, as the Mist SDK masks tokens: the first and last four characters
    /// of a long token, nothing of a short one.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 16 {
            return "****".to_owned();
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}...{tail}")
    }

    /// `text` with every occurrence of the token replaced by its mask: applied to anything
    /// the server sent back before it reaches an error message.
    pub(crate) fn redact(&self, text: &str) -> String {
        if text.contains(&self.0) {
            text.replace(&self.0, &self.masked())
        } else {
            text.to_owned()
        }
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({})", self.masked())
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl std::str::FromStr for ApiToken {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<ApiToken, TokenError> {
        ApiToken::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_never_show_the_secret() {
        let token = ApiToken::new("  abcdSECRETSECRETwxyz\n").unwrap();
        assert_eq!(token.expose(), "abcdSECRETSECRETwxyz");
        assert_eq!(token.masked(), "abcd...wxyz");
        assert_eq!(format!("{token:?}"), "ApiToken(abcd...wxyz)");
        assert_eq!(token.to_string(), "abcd...wxyz");
        let short = ApiToken::new("short-token").unwrap();
        assert_eq!(short.masked(), "****");
    }

    #[test]
    fn redacts_echoed_tokens() {
        let token = ApiToken::new("abcdSECRETSECRETwxyz").unwrap();
        assert_eq!(
            token.redact("bad token abcdSECRETSECRETwxyz here"),
            "bad token abcd...wxyz here"
        );
    }

    #[test]
    fn refuses_empty_and_unsafe_tokens() {
        assert_eq!(ApiToken::new("  "), Err(TokenError::Empty));
        assert_eq!(ApiToken::new("ab cd"), Err(TokenError::NotHeaderSafe));
        assert_eq!(ApiToken::new("ab\ncd"), Err(TokenError::NotHeaderSafe));
        assert_eq!(ApiToken::new("abcé"), Err(TokenError::NotHeaderSafe));
    }
}
