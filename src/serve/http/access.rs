//! Who may call an endpoint and what it answers with: the Host check against DNS rebinding,
//! bearer tokens and client certificates, the media types of a body, and the answers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode, Version};
use serde_json::{Value, json};

use crate::serve::config::ListenConfig;

pub type Body = Full<Bytes>;

/// What the server knows of a connection when a request arrives on it.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub address: std::net::SocketAddr,
    /// A client certificate the configured CA signed was presented.
    pub client_certificate: bool,
    /// The request proved who sent it, or the endpoint asks no proof (see
    /// [`Access::authorized`]); each handler decides which paths need it.
    pub authorized: bool,
}

/// An endpoint's access rules, from its configuration and the port it got.
#[derive(Debug, Clone)]
pub struct Access {
    config: ListenConfig,
    port: u16,
}

impl Access {
    pub fn new(config: ListenConfig, port: u16) -> Access {
        Access { config, port }
    }

    /// Whether the request's Host names this server. A browser sends the name it resolved,
    /// so a page that rebinds its own name to 127.0.0.1 is refused here.
    pub fn host_allowed<B>(&self, request: &Request<B>) -> bool {
        let Some(allowed) = &self.config.allowed_hosts else {
            return true;
        };
        let Some(host) = request.headers().get(HOST) else {
            // HTTP/1.0 has no Host; browsers always send one.
            return request.version() < Version::HTTP_11;
        };
        let Ok(host) = host.to_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
            _ => (host.as_str(), None),
        };
        let default_port = if self.config.tls.is_some() { 443 } else { 80 };
        port.unwrap_or(default_port) == self.port && allowed.iter().any(|a| a == name)
    }

    /// Whether the client proved who it is, when the endpoint asks it to.
    pub fn authorized<B>(&self, request: &Request<B>, peer: &Peer) -> bool {
        if !self.config.authenticates() || peer.client_certificate {
            return true;
        }
        if self.config.tokens.is_empty() {
            return false;
        }
        request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()))
            .is_some_and(|token| self.config.tokens.accepts(token))
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Whether a Content-Type is JSON or JSON lines (parameters such as `charset` allowed). Only
/// the exact media types: a browser can send `text/plain`, form and multipart types across
/// origins without asking, whatever parameters they carry.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("application/x-ndjson")
}

/// The Content-Type of a request, if it is text.
pub fn content_type<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
}

pub fn json(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"error": reason}` with the status.
pub fn error(status: StatusCode, reason: &str) -> Response<Body> {
    json(status, &json!({ "error": reason }))
}

pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// 401 with the challenge a client needs to know what to send.
pub fn unauthorized() -> Response<Body> {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "authentication needed: send Authorization: Bearer <token> or a client certificate",
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 405 with the methods the path takes.
pub fn method_not_allowed(allow: &'static str, reason: &str) -> Response<Body> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, reason);
    response
        .headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_json_media_types_pass_whatever_their_parameters() {
        for good in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/x-ndjson",
            " application/json ;charset=utf-8",
        ] {
            assert!(is_json_media_type(good), "{good}");
        }
        for bad in [
            "text/plain; charset=json",
            "application/x-www-form-urlencoded; json",
            "multipart/form-data; boundary=json",
            "application/json-seq",
            "text/json",
            "",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_takes_the_token_after_the_scheme() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bear"), None);
    }
}
