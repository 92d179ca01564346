//! Header pagination of Mist list endpoints.
//!
//! Mist answers a list request with `X-Page-Total` (the number of *items*, not pages),
//! `X-Page-Limit` and `X-Page-Page`. The limit is read from the response, because the
//! server may cap the one asked for; the list is complete on an empty page or when
//! `limit * page >= total`.

use reqwest::header::HeaderMap;

use super::client::{MistClient, RawResponse};
use super::error::MistError;
use super::ordered::ordered_map;
use super::project::Projection;

/// Items asked per page by default: the API's maximum, so the fewest calls.
pub const DEFAULT_PAGE_LIMIT: u32 = 1000;

/// Pages fetched from one list at most: a safety net against a server that never says
/// the list is complete. Reaching it is an error, never a silent truncation.
pub const MAX_PAGES: u32 = 1000;

/// How a list is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// `limit` asked per page.
    pub limit: u32,
    /// Pages fetched at most (see [`MAX_PAGES`]).
    pub max_pages: u32,
}

impl Default for Paging {
    fn default() -> Paging {
        Paging {
            limit: DEFAULT_PAGE_LIMIT,
            max_pages: MAX_PAGES,
        }
    }
}

/// The pagination headers of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub total: u64,
    pub limit: u64,
    pub page: u64,
}

impl PageInfo {
    /// The three headers, or `None` if any is missing (an unpaged response, as the Mist
    /// SDK reads it). A header that is present but not a number is an error.
    pub fn from_headers(headers: &HeaderMap, path: &str) -> Result<Option<PageInfo>, MistError> {
        let read = |name: &'static str| -> Result<Option<u64>, MistError> {
            let Some(value) = headers.get(name) else {
                return Ok(None);
            };
            let text = String::from_utf8_lossy(value.as_bytes());
            text.trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| MistError::BadHeader {
                    path: path.to_owned(),
                    header: name,
                    value: text.into_owned(),
                })
        };
        let (total, limit, page) = (
            read("X-Page-Total")?,
            read("X-Page-Limit")?,
            read("X-Page-Page")?,
        );
        Ok(match (total, limit, page) {
            (Some(total), Some(limit), Some(page)) => Some(PageInfo { total, limit, page }),
            _ => None,
        })
    }
}

/// Whether a page contradicts its own headers: it holds fewer items than `X-Page-Limit`
/// although `X-Page-Total` says more pages follow. A server that does so (a lie, or a
/// broken proxy) would have the run page on, one call at a time, until the budget is
/// spent; the run stops instead. A list that shrinks while it is paged does not trip this:
/// each response's total is counted when it is served.
pub fn contradicts(info: PageInfo, items: usize) -> bool {
    (items as u64) < info.limit && info.limit.saturating_mul(info.page) < info.total
}

/// Calls still needed after the page `info` describes to reach the end of the list.
pub fn pages_after(info: PageInfo) -> u64 {
    if info.limit == 0 {
        return 0;
    }
    info.total.div_ceil(info.limit).saturating_sub(info.page)
}

/// The page to ask for after a page that held `items` items and carried `info`, or `None`
/// when the list is complete.
pub fn next_page(info: Option<PageInfo>, items: usize) -> Option<u64> {
    let info = info?;
    if items == 0 || info.limit == 0 {
        return None;
    }
    if info.limit.saturating_mul(info.page) >= info.total {
        return None;
    }
    Some(info.page + 1)
}

/// One list of the API: where it is (path segments and query) and how it is paged.
#[derive(Clone, Copy)]
pub struct List<'a> {
    pub segments: &'a [&'a str],
    pub query: &'a [(&'a str, String)],
    pub paging: Paging,
}

/// One page, checked against its own headers; with `plan_rest`, also checked that the rest
/// of the list fits the run's calls and the page cap (`fetched` pages so far), which only
/// the page the rest is planned from can tell.
fn fetch_page(
    client: &MistClient,
    list: List<'_>,
    page: u64,
    fetched: u32,
    plan_rest: bool,
) -> Result<(RawResponse, Option<PageInfo>), MistError> {
    let paging = list.paging;
    let mut full_query = list.query.to_vec();
    full_query.push(("limit", paging.limit.to_string()));
    full_query.push(("page", page.to_string()));
    let response = client.get(list.segments, &full_query)?;
    let info = PageInfo::from_headers(&response.headers, &response.path)?;
    let Some(info) = info else {
        return Ok((response, None));
    };
    if info.page != page {
        // The server did not answer the page asked for: paging on could loop for ever.
        return Err(MistError::BadHeader {
            path: response.path,
            header: "X-Page-Page",
            value: info.page.to_string(),
        });
    }
    if plan_rest {
        // Before the body is parsed: the check costs nothing, and a list the run cannot
        // finish is not worth parsing.
        let needed = pages_after(info);
        let left = client.calls_left();
        if needed > left as u64 {
            return Err(MistError::OverBudget {
                path: response.path,
                total: info.total,
                limit: info.limit,
                pages: needed,
                left,
            });
        }
        if needed >= u64::from(paging.max_pages.saturating_sub(fetched)) {
            return Err(MistError::TooManyPages {
                path: response.path,
                max_pages: paging.max_pages,
                total: info.total,
            });
        }
    }
    Ok((response, Some(info)))
}

/// A parsed page, and what paging on needs of it.
struct Page<T> {
    info: Option<PageInfo>,
    items: usize,
    value: T,
    path: String,
}

/// What a list makes of each page it fetches: the number of items the page held, and its
/// result. The response is lent: its body's buffer goes back to the thread after parsing.
pub type ParsePage<'a, T> = dyn Fn(&RawResponse) -> Result<(usize, T), MistError> + Sync + 'a;

/// Fetches and parses one page; fails if the page contradicts its headers.
fn page<T>(
    client: &MistClient,
    list: List<'_>,
    number: u64,
    fetched: u32,
    plan_rest: bool,
    parse: &ParsePage<'_, T>,
) -> Result<Page<T>, MistError> {
    let paging = list.paging;
    let (response, info) = fetch_page(client, list, number, fetched, plan_rest)?;
    let parsed = parse(&response);
    let path = response.recycle();
    let (items, value) = parsed?;
    if let Some(info) = info
        && contradicts(info, items)
    {
        return Err(MistError::PageLie {
            path,
            items,
            limit: info.limit,
            total: info.total,
        });
    }
    if info.is_none() && items >= paging.limit as usize {
        tracing::warn!(
            "GET {path}: a full page without X-Page-* headers; taking it as the whole list"
        );
    }
    Ok(Page {
        info,
        items,
        value,
        path,
    })
}

/// Pages a list to its end and returns what `parse` made of each page, in page order.
/// `parse` returns the number of items a page held and its result.
///
/// The first page's headers tell how many pages follow; those are fetched `concurrency` at
/// a time (each parsed on the thread that fetched it), as a download tool would. Should
/// the last of them say the list grew meanwhile, paging goes on one page at a time.
pub fn map_pages<T: Send>(
    client: &MistClient,
    list: List<'_>,
    concurrency: usize,
    parse: &ParsePage<'_, T>,
) -> Result<Vec<T>, MistError> {
    let mut values = Vec::new();
    for_each_page(client, list, concurrency, parse, &mut |value| {
        values.push(value);
    })?;
    Ok(values)
}

/// [`map_pages`], handing each page's result to `consume` (on the calling thread, in page
/// order) as soon as it and the pages before it are in, instead of collecting them.
pub fn for_each_page<T: Send>(
    client: &MistClient,
    list: List<'_>,
    concurrency: usize,
    parse: &ParsePage<'_, T>,
    consume: &mut dyn FnMut(T),
) -> Result<(), MistError> {
    let paging = list.paging;
    let first = page(client, list, 1, 0, true, parse)?;
    let mut last = (first.info, first.items, first.path);
    let mut fetched: u32 = 1;
    consume(first.value);
    let announced = match first.info {
        Some(info) if next_page(first.info, first.items).is_some() => pages_after(info),
        _ => 0,
    };
    if announced > 0 {
        let rest = usize::try_from(announced).unwrap_or(usize::MAX);
        let mut failure: Option<MistError> = None;
        // Set by the first failure so the pages not yet started are not fetched.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let concurrency = concurrency.max(1);
        ordered_map(
            rest,
            concurrency,
            concurrency * 2,
            |index| {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return None;
                }
                let number = index as u64 + 2;
                let result = page(client, list, number, 0, false, parse);
                if result.is_err() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Some((number, result))
            },
            |_, outcome| match outcome {
                _ if failure.is_some() => {}
                None => {}
                Some((_, Err(error))) => failure = Some(error),
                Some((_, Ok(page))) => {
                    last = (page.info, page.items, page.path);
                    fetched = fetched.saturating_add(1);
                    consume(page.value);
                }
            },
        );
        if let Some(error) = failure {
            return Err(error);
        }
    }
    // Each page answered the number asked for, so `next` always moves forward.
    while let Some(next) = next_page(last.0, last.1) {
        if fetched >= paging.max_pages {
            return Err(MistError::TooManyPages {
                path: last.2,
                max_pages: paging.max_pages,
                total: last.0.map_or(0, |i| i.total),
            });
        }
        let more = page(client, list, next, fetched, true, parse)?;
        last = (more.info, more.items, more.path);
        consume(more.value);
        fetched += 1;
    }
    Ok(())
}

/// Every item of a list whose pages are JSON arrays, in order; each item parsed into
/// `each` only, when given. Items that are `devices` are written over the thread's spent
/// device values where they can be (see [`super::project::spent`]).
pub fn collect_all(
    client: &MistClient,
    list: List<'_>,
    concurrency: usize,
    each: Option<&Projection>,
    devices: bool,
) -> Result<Vec<serde_json::Value>, MistError> {
    let pages = map_pages(client, list, concurrency, &|response| {
        let page = match each {
            Some(each) if devices => response.projected_devices(each)?,
            Some(each) => response.projected_array(each)?,
            None => response.json_array()?,
        };
        Ok((page.len(), page))
    })?;
    Ok(pages.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn info(total: u64, limit: u64, page: u64) -> Option<PageInfo> {
        Some(PageInfo { total, limit, page })
    }

    #[test]
    fn total_counts_items_not_pages() {
        // 193 items by 100: pages 1 and 2.
        assert_eq!(next_page(info(193, 100, 1), 100), Some(2));
        assert_eq!(next_page(info(193, 100, 2), 93), None);
        // Exactly two full pages: no third call.
        assert_eq!(next_page(info(200, 100, 2), 100), None);
        // The fixtures: 4 sites by 2, 10 devices by 5.
        assert_eq!(next_page(info(4, 2, 1), 2), Some(2));
        assert_eq!(next_page(info(4, 2, 2), 2), None);
        assert_eq!(next_page(info(10, 5, 1), 5), Some(2));
        assert_eq!(next_page(info(10, 5, 2), 5), None);
        // One page holds everything.
        assert_eq!(next_page(info(4, 100, 1), 4), None);
        assert_eq!(next_page(info(0, 100, 1), 0), None);
    }

    #[test]
    fn limit_comes_from_the_response() {
        // Asked 1000, the server capped at 100: 250 items need 3 pages.
        assert_eq!(next_page(info(250, 100, 1), 100), Some(2));
        assert_eq!(next_page(info(250, 100, 2), 100), Some(3));
        assert_eq!(next_page(info(250, 100, 3), 50), None);
    }

    #[test]
    fn stops_on_empty_pages_missing_headers_and_absurd_values() {
        assert_eq!(next_page(info(500, 100, 1), 0), None);
        assert_eq!(next_page(None, 100), None);
        assert_eq!(next_page(info(500, 0, 1), 10), None);
        assert_eq!(next_page(info(u64::MAX, u64::MAX, 2), 1), None);
    }

    #[test]
    fn a_short_page_before_the_end_contradicts_its_headers() {
        let page = |total, limit, page| PageInfo { total, limit, page };
        // A million items claimed, one served: a lie that would cost a call per item.
        assert!(contradicts(page(1_000_000, 1000, 1), 1));
        assert!(contradicts(page(193, 100, 1), 0));
        // The last page may be short, and a full page is never a contradiction.
        assert!(!contradicts(page(193, 100, 2), 93));
        assert!(!contradicts(page(193, 100, 1), 100));
        assert!(!contradicts(page(1_000_000, 1, 1), 1));
        // Calls still needed after a page.
        assert_eq!(pages_after(page(193, 100, 1)), 1);
        assert_eq!(pages_after(page(193, 100, 2)), 0);
        assert_eq!(pages_after(page(1_000_000, 1, 1)), 999_999);
        assert_eq!(pages_after(page(10, 0, 1)), 0);
    }

    #[test]
    fn headers_are_read_all_or_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert("X-Page-Total", HeaderValue::from_static("193"));
        headers.insert("X-Page-Limit", HeaderValue::from_static("100"));
        assert_eq!(PageInfo::from_headers(&headers, "/p"), Ok(None));
        headers.insert("X-Page-Page", HeaderValue::from_static(" 1 "));
        assert_eq!(
            PageInfo::from_headers(&headers, "/p"),
            Ok(info(193, 100, 1))
        );
        headers.insert("X-Page-Total", HeaderValue::from_static("many"));
        let error = PageInfo::from_headers(&headers, "/p").unwrap_err();
        assert!(error.to_string().contains("X-Page-Total"), "{error}");
    }
}
