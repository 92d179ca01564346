//! Where the Mist API lives: the regional cloud hosts, or any base URL (tests, proxies).

use reqwest::Url;

/// The public Mist API hosts, one per regional cloud (Global 01-05, EMEA 01-04, APAC 01-03),
/// plus the US federal cloud. A token only works on the cloud that issued it.
pub const MIST_API_HOSTS: [&str; 13] = [
    "api.mist.com",
    "api.gc1.mist.com",
    "api.ac2.mist.com",
    "api.gc2.mist.com",
    "api.gc4.mist.com",
    "api.eu.mist.com",
    "api.gc3.mist.com",
    "api.ac6.mist.com",
    "api.gc6.mist.com",
    "api.ac5.mist.com",
    "api.gc5.mist.com",
    "api.gc7.mist.com",
    "api.us.mist-federal.com",
];

/// The host used when none is given (Global 01), as the original plugin did.
pub const DEFAULT_HOST: &str = "api.mist.com";

/// Why a host or base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error(
        "unknown Mist API host `{given}`; did you mean `{suggestion}`? (known hosts: {})",
        MIST_API_HOSTS.join(", ")
    )]
    UnknownHost {
        given: String,
        suggestion: &'static str,
    },
    #[error("invalid API URL `{given}`: {reason}")]
    BadUrl { given: String, reason: String },
}

/// The scheme, host and port every request goes to; paths are appended segment by segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(Url);

impl BaseUrl {
    /// `https://<host>` for one of [`MIST_API_HOSTS`]. Case, a leading `https://` and a
    /// trailing `/` are forgiven; anything else unknown is refused with the nearest host.
    pub fn from_host(given: &str) -> Result<BaseUrl, HostError> {
        let host = normalise_host(given);
        match MIST_API_HOSTS.iter().find(|known| **known == host) {
            Some(known) => BaseUrl::parse(&format!("https://{known}"), given),
            None => Err(HostError::UnknownHost {
                given: given.to_owned(),
                suggestion: nearest_host(&host),
            }),
        }
    }

    /// Any `http(s)://host[:port]` URL, for a mock server, a proxy or a private cloud.
    /// Without a scheme it is read as a Mist host ([`BaseUrl::from_host`]), so one setting
    /// (the Pandora plugin's "API host" field) takes `api.eu.mist.com` as well as a URL.
    pub fn from_api_url(given: &str) -> Result<BaseUrl, HostError> {
        if given.contains("://") {
            BaseUrl::parse(given.trim(), given)
        } else {
            BaseUrl::from_host(given)
        }
    }

    fn parse(text: &str, given: &str) -> Result<BaseUrl, HostError> {
        let bad = |reason: &str| HostError::BadUrl {
            given: given.to_owned(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("a host is required"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL; use the token option",
            ));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "give only scheme, host and port (the /api/v1/... paths are added)",
            ));
        }
        Ok(BaseUrl(url))
    }

    /// The URL of `segments` (each percent-encoded, so an id can never change the path)
    /// with `query` pairs in order.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.clear().extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        url
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

fn normalise_host(given: &str) -> String {
    let host = given.trim().to_ascii_lowercase();
    let host = host.strip_prefix("https://").unwrap_or(&host);
    host.trim_end_matches('/').to_owned()
}

/// The known host closest to `host`. The portal name (`manage.eu.mist.com`) maps to its
/// API host, since operators often copy the address of the web portal.
fn nearest_host(host: &str) -> &'static str {
    let as_api = host
        .strip_prefix("manage.")
        .map(|rest| format!("api.{rest}"))
        .unwrap_or_else(|| host.to_owned());
    MIST_API_HOSTS
        .iter()
        .min_by_key(|known| strsim::levenshtein(known, &as_api))
        .copied()
        .unwrap_or(DEFAULT_HOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_regional_host_is_accepted() {
        for host in MIST_API_HOSTS {
            let base = BaseUrl::from_host(host).unwrap();
            assert_eq!(base.as_str(), format!("https://{host}/"));
        }
        assert_eq!(
            BaseUrl::from_host(" HTTPS://API.EU.MIST.COM/ ")
                .unwrap()
                .as_str(),
            "https://api.eu.mist.com/"
        );
        assert_eq!(
            BaseUrl::from_host(DEFAULT_HOST).unwrap().as_str(),
            "https://api.mist.com/"
        );
    }

    #[test]
    fn unknown_hosts_suggest_the_nearest() {
        let cases = [
            ("api.eu.mist.co", "api.eu.mist.com"),
            ("manage.eu.mist.com", "api.eu.mist.com"),
            ("manage.gc4.mist.com", "api.gc4.mist.com"),
            ("api.gc8.mist.com", "api.gc1.mist.com"),
            ("api.us.mist-federal.org", "api.us.mist-federal.com"),
            ("mist.com", "api.mist.com"),
        ];
        for (given, expected) in cases {
            match BaseUrl::from_host(given) {
                Err(HostError::UnknownHost { suggestion, .. }) => {
                    assert_eq!(suggestion, expected, "for {given}")
                }
                other => panic!("{given}: expected an unknown host, got {other:?}"),
            }
        }
        let message = BaseUrl::from_host("api.eu.mist.co")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("did you mean `api.eu.mist.com`?"),
            "{message}"
        );
    }

    #[test]
    fn api_urls_keep_only_scheme_host_and_port() {
        let base = BaseUrl::from_api_url("http://127.0.0.1:8080").unwrap();
        assert_eq!(base.as_str(), "http://127.0.0.1:8080/");
        for bad in [
            "ftp://x",
            "http://127.0.0.1/api",
            "http://u:p@host",
            "http://h/?q=1",
            "nonsense",
        ] {
            assert!(BaseUrl::from_api_url(bad).is_err(), "{bad}");
        }
        let regional = BaseUrl::from_api_url("api.eu.mist.com").unwrap();
        assert_eq!(regional.as_str(), "https://api.eu.mist.com/");
        assert!(matches!(
            BaseUrl::from_api_url("manage.eu.mist.com"),
            Err(HostError::UnknownHost {
                suggestion: "api.eu.mist.com",
                ..
            })
        ));
    }

    #[test]
    fn urls_encode_each_segment() {
        let base = BaseUrl::from_api_url("http://127.0.0.1:9").unwrap();
        let url = base.url(
            &["api", "v1", "orgs", "a/b?c", "sites"],
            &[("limit", "2".into()), ("page", "1".into())],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/api/v1/orgs/a%2Fb%3Fc/sites?limit=2&page=1"
        );
    }
}
