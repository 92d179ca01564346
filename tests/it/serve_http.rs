//! The HTTP intake against hostile and old clients, over real sockets: stalled bodies and a
//! flood of idle connections under a low file-descriptor limit, unauthenticated and
//! cross-site posts, HTTP/1.0 and 1.1 with and without keep-alive, TLS with tokens and client
//! certificates.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::repo_root;
use crate::common::serve::{Serve, WAIT, free_tcp_port, request};
use crate::common::snmptrapd::free_udp_port;

/// A token for the tests (at least 16 characters).
const TOKEN: &str = "intake-token-0123456789";

fn stlnk(id: &str) -> String {
    json!({
        "source": "STLNK",
        "severity": "WARNING",
        "details": {"nameService": id, "nameLink": "PA-Lyon-1", "valueLink": "OFF"},
        "timestamp": "2026-11-21 09:15:42.317"
    })
    .to_string()
}

/// A daemon with an HTTP intake (`http` settings added to `listen`) and a destination nobody
/// listens on (the tests look at what is acknowledged and queued, not delivered).
fn daemon(http: &str, extra: &str) -> Serve {
    Serve::new(&format!(
        "state_dir: state\nenv: {{hostname: gw-test}}\nintakes:\n  http:\n    listen: \"{{http}}\"\n{http}\
         destinations:\n  - name: nms\n    address: udp:127.0.0.1:{}\n{extra}",
        free_udp_port()
    ))
}

fn address(serve: &Serve) -> SocketAddr {
    serve.http.as_ref().unwrap().parse().unwrap()
}

/// One request with a short client time limit: the intake must answer at once, whatever else
/// is connected.
fn quick(url: String, method: &str, body: Option<String>) -> Result<(u16, String), String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let builder = match method {
        "GET" => client.get(url),
        _ => client
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.unwrap_or_default()),
    };
    builder
        .send()
        .and_then(|response| {
            let status = response.status().as_u16();
            Ok((status, response.text()?))
        })
        .map_err(|e| e.to_string())
}

#[test]
fn stalled_posts_and_a_flood_of_idle_connections_leave_the_intake_answering() {
    let mut serve = daemon("", "");
    serve.fd_limit = Some(256);
    serve.start();
    let target = address(&serve);
    // Two posts that announce 2000 bytes and send 50, held open.
    let stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(target).unwrap();
            write!(
                stream,
                "POST /audit HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\n\
                 Content-Length: 2000\r\n\r\n{}",
                " ".repeat(50)
            )
            .unwrap();
            stream
        })
        .collect();
    // A thousand connections that never send anything: more than the daemon can keep open.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        if let Ok(stream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) {
            idle.push(stream);
        }
    }
    assert!(
        idle.len() > 900,
        "only {} connections were made",
        idle.len()
    );

    let health = quick(serve.http_url("/health"), "GET", None);
    assert_eq!(health, Ok((200, "ok\n".to_owned())), "{}", serve.log_text());
    let (status, body) = quick(serve.http_url("/audit"), "POST", Some(stlnk("during")))
        .unwrap_or_else(|e| panic!("{e}\n{}", serve.log_text()));
    assert_eq!(status, 200, "{body}");

    // The attacker leaves: the listener is still there and answers.
    drop(idle);
    drop(stalled);
    let (status, body) = quick(serve.http_url("/audit"), "POST", Some(stlnk("after")))
        .unwrap_or_else(|e| panic!("{e}\n{}", serve.log_text()));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        quick(serve.http_url("/health"), "GET", None),
        Ok((200, "ok\n".to_owned()))
    );
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn a_listener_out_of_file_descriptors_closes_idle_connections_and_keeps_accepting() {
    // Started under a small limit (so the connection bound is its minimum, 8), then lowered
    // on the running daemon to what it holds now plus three: the fourth connection of the flood
    // meets EMFILE whatever this machine's daemon happens to open at start.
    let mut serve = daemon("", "");
    serve.fd_limit = Some(32);
    serve.start();
    let target = address(&serve);
    assert_eq!(
        quick(serve.http_url("/health"), "GET", None),
        Ok((200, "ok\n".to_owned()))
    );
    let pid = serve.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or_else(|e| panic!("cannot list the daemon's descriptors: {e}"));
    let lowered = u64::try_from(open + 3).unwrap();
    rustix::process::prlimit(
        rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()),
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(lowered),
            maximum: Some(lowered),
        },
    )
    .unwrap_or_else(|e| panic!("cannot lower the daemon's descriptor limit: {e}"));
    let idle: Vec<TcpStream> = (0..50)
        .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_secs(5)).ok())
        .collect();
    assert!(
        serve.wait_for_log(|l| l.contains("cannot accept a connection"), WAIT),
        "{open} descriptors open, limit {lowered}\n{}",
        serve.log_text()
    );
    let (status, body) = request(
        serve.http_url("/audit"),
        "POST",
        Some("application/json"),
        stlnk("out-of-descriptors").into_bytes(),
    );
    assert_eq!(status, 200, "{body}\n{}", serve.log_text());
    drop(idle);
    assert_eq!(
        quick(serve.http_url("/health"), "GET", None),
        Ok((200, "ok\n".to_owned()))
    );
    assert_eq!(serve.stop(), Some(0));
}

/// The metrics endpoint's address and the lines of its text, read with `token`.
fn metrics(address: &str, token: Option<&str>) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut builder = client.get(format!("http://{address}/metrics"));
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    let response = builder.send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn post_with(
    serve: &Serve,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut builder = client.post(serve.http_url("/audit")).body(body.to_owned());
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = builder.send().unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().unwrap(), headers)
}

#[test]
fn only_authenticated_json_posts_naming_this_host_are_queued() {
    let metrics_address = format!("127.0.0.1:{}", free_tcp_port());
    let mut serve = daemon(
        "    token_file: intake.token\n",
        &format!(
            "metrics:\n  listen: \"{metrics_address}\"\n  token_env: MONBRIDGE_TEST_METRICS_TOKEN\n"
        ),
    );
    std::fs::write(
        serve.path("intake.token"),
        format!("# rotated tokens, one per line\nold-token-abcdefghijklmnop\n{TOKEN}\n"),
    )
    .unwrap();
    let metrics_token = "metrics-token-0123456789";
    serve.start_with(|command| {
        command.env("MONBRIDGE_TEST_METRICS_TOKEN", metrics_token);
    });
    let json_type = ("Content-Type", "application/json");
    let bearer = format!("Bearer {TOKEN}");
    let authorization = ("Authorization", bearer.as_str());
    let evil_host = format!("rebound.example:{}", address(&serve).port());

    let (status, body, headers) = post_with(&serve, &[json_type], &stlnk("no-token"));
    assert_eq!(status, 401, "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer");
    let wrong = [json_type, ("Authorization", "Bearer not-the-token-at-all")];
    assert_eq!(post_with(&serve, &wrong, &stlnk("wrong-token")).0, 401);
    for content_type in [
        "text/plain; charset=json",
        "application/x-www-form-urlencoded; json",
        "multipart/form-data; boundary=json",
        "text/json",
    ] {
        let (status, body, _) = post_with(
            &serve,
            &[("Content-Type", content_type), authorization],
            &stlnk("simple-request"),
        );
        assert_eq!(status, 415, "{content_type}: {body}");
    }
    let (status, body, _) = post_with(&serve, &[authorization], &stlnk("untyped"));
    assert_eq!(status, 415, "{body}");
    let (status, body, _) = post_with(
        &serve,
        &[json_type, authorization, ("Host", &evil_host)],
        &stlnk("rebound"),
    );
    assert_eq!(status, 403, "{body}");

    // The right token, JSON (or JSON lines, with a parameter), this host: queued.
    let (status, body, _) = post_with(&serve, &[json_type, authorization], &stlnk("good"));
    assert_eq!(status, 200, "{body}");
    let ndjson = ("Content-Type", "application/x-ndjson; charset=utf-8");
    let lines = format!("{}\n{}\n", stlnk("line-1"), stlnk("line-2"));
    let (status, body, _) = post_with(&serve, &[ndjson, authorization], &lines);
    assert_eq!(status, 200, "{body}");

    // The metrics: their own token, GET only.
    assert_eq!(metrics(&metrics_address, None).0, 401);
    assert_eq!(metrics(&metrics_address, Some(TOKEN)).0, 401);
    let (status, _) = request(
        format!("http://{metrics_address}/metrics"),
        "POST",
        None,
        Vec::new(),
    );
    assert_eq!(status, 405);
    let (status, text) = metrics(&metrics_address, Some(metrics_token));
    assert_eq!(status, 200, "{text}");
    for line in [
        "monbridge_audits_received_total 3",
        "monbridge_audits_queued_total 3",
        // Two 401s and five 415s; the Host refusal is the server's, before the intake.
        "monbridge_intake_rejected_total 7",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(!serve.log_text().contains(TOKEN));
    assert_eq!(serve.stop(), Some(0));
}

/// Reads one HTTP answer from a kept-alive connection: the head, and the body by its length.
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while !data.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read the answer's head");
        assert_eq!(n, 1, "closed before the end of the head: {data:?}");
        data.push(byte[0]);
    }
    let head = String::from_utf8(data).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

fn audit_request(version: &str, connection: Option<&str>, target: SocketAddr, id: &str) -> String {
    let body = stlnk(id);
    let connection = connection
        .map(|c| format!("Connection: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /audit HTTP/{version}\r\nHost: {target}\r\nContent-Type: application/json\r\n\
         {connection}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn http_1_0_and_1_1_clients_get_their_answers_with_and_without_keep_alive() {
    let mut serve = daemon("", "");
    serve.start();
    let target = address(&serve);
    let connect = || {
        let stream = TcpStream::connect(target).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
    };
    for (version, connection, kept) in [
        ("1.0", None, false),
        ("1.0", Some("keep-alive"), true),
        ("1.1", None, true),
        ("1.1", Some("close"), false),
    ] {
        let mut stream = connect();
        let label = format!("HTTP/{version} {connection:?}");
        for round in 0..if kept { 2 } else { 1 } {
            let id = format!("{label}-{round}");
            stream
                .write_all(audit_request(version, connection, target, &id).as_bytes())
                .unwrap();
            let (head, body) = read_answer(&mut stream);
            assert!(
                head.starts_with(&format!("http/{version} 200"))
                    || head.starts_with("http/1.1 200"),
                "{label}: {head}"
            );
            assert!(body.contains("\"queued\":1"), "{label}: {body}");
            if version == "1.0" && kept {
                assert!(head.contains("connection: keep-alive"), "{label}: {head}");
            }
        }
        if !kept {
            // The server closes: the client sees the end of the stream, not a hang.
            let mut rest = Vec::new();
            let n = stream.read_to_end(&mut rest).expect("the server closes");
            assert_eq!(n, 0, "{label}: {rest:?}");
        }
    }
    assert_eq!(serve.stop(), Some(0));
}

fn fixture(name: &str) -> std::path::PathBuf {
    repo_root().join("tests/fixtures/tls").join(name)
}

fn tls_client(identity: bool) -> reqwest::blocking::Client {
    let ca = std::fs::read(fixture("ca.pem")).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
    if identity {
        let mut pem = std::fs::read(fixture("client.pem")).unwrap();
        pem.extend(std::fs::read(fixture("client.key")).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

#[test]
fn tls_with_a_token_or_a_client_certificate_round_trips() {
    let tls = format!(
        "    tls:\n      cert_file: {}\n      key_file: {}\n",
        fixture("server.pem").display(),
        fixture("server.key").display()
    );
    let mut serve = daemon(&format!("{tls}    token_env: MONBRIDGE_TEST_TOKEN\n"), "");
    serve.start_with(|command| {
        command.env("MONBRIDGE_TEST_TOKEN", TOKEN);
    });
    let port = address(&serve).port();
    let url = format!("https://localhost:{port}/audit");
    let post = |client: &reqwest::blocking::Client, token: Option<&str>, id: &str| {
        let mut builder = client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(stlnk(id));
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        builder.send().map(|r| r.status().as_u16())
    };
    assert_eq!(post(&tls_client(false), Some(TOKEN), "tls").unwrap(), 200);
    assert_eq!(post(&tls_client(false), None, "tls-no-token").unwrap(), 401);
    // Plain HTTP on the TLS port gets no answer.
    let (status, _) = request(
        format!("http://127.0.0.1:{port}/audit"),
        "POST",
        Some("application/json"),
        stlnk("plain").into_bytes(),
    );
    assert_eq!(status, 0);
    assert_eq!(serve.stop(), Some(0));

    // Client certificates instead of a token: without one, no handshake.
    let mut serve = daemon(
        &format!(
            "{tls}      client_ca_file: {}\n    allowed_hosts: [localhost]\n",
            fixture("ca.pem").display()
        ),
        "",
    );
    serve.start();
    let port = address(&serve).port();
    let url = format!("https://localhost:{port}/audit");
    let post = |client: &reqwest::blocking::Client| {
        client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(stlnk("client-certificate"))
            .send()
            .map(|r| r.status().as_u16())
    };
    assert_eq!(post(&tls_client(true)).unwrap(), 200);
    assert!(post(&tls_client(false)).is_err());
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn a_listen_address_other_machines_reach_needs_tls_and_authentication_or_insecure() {
    let check = |http: &str| {
        let serve = Serve::new(&format!(
            "state_dir: state\nintakes:\n  http:\n    listen: \"0.0.0.0:{}\"\n{http}destinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n",
            free_tcp_port()
        ));
        let output = serve
            .command()
            .arg("--check-config")
            .env("MONBRIDGE_TEST_TOKEN", TOKEN)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = check("");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("intakes.http.listen: 0.0.0.0:") && stderr.contains("insecure: true"),
        "{stderr}"
    );
    // A token without TLS would travel in clear.
    let (code, stderr) = check("    token_env: MONBRIDGE_TEST_TOKEN\n");
    assert_eq!(code, Some(1), "{stderr}");
    let tls = format!(
        "    tls: {{cert_file: {}, key_file: {}}}\n    token_env: MONBRIDGE_TEST_TOKEN\n",
        fixture("server.pem").display(),
        fixture("server.key").display()
    );
    assert_eq!(check(&tls).0, Some(0));
    // A key file that holds no key is found by the check, not at the start.
    let (code, stderr) = check(&tls.replace("server.key", "server.pem"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("intakes.http.tls: cannot read a private key"),
        "{stderr}"
    );
    assert_eq!(check("    insecure: true\n").0, Some(0));

    // Taken with insecure: true, and said so.
    let mut serve = Serve::new(&format!(
        "state_dir: state\nintakes:\n  http:\n    listen: \"0.0.0.0:{}\"\n    insecure: true\ndestinations:\n  - name: nms\n    address: udp:127.0.0.1:162\n",
        free_tcp_port()
    ));
    serve.start();
    assert!(
        serve.log_text().lines().any(|l| l.contains("WARN")
            && l.contains("reachable from other machines without TLS and authentication")),
        "{}",
        serve.log_text()
    );
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn a_body_that_never_ends_gets_408_and_queues_nothing() {
    let mut serve = daemon("    body_timeout_ms: 200\n", "");
    serve.start();
    let target = address(&serve);
    let mut stream = TcpStream::connect(target).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "POST /audit HTTP/1.1\r\nHost: {target}\r\nContent-Type: application/json\r\n\
         Content-Length: 2000\r\n\r\n{}",
        &stlnk("partial")[..50]
    )
    .unwrap();
    let (head, body) = read_answer(&mut stream);
    assert!(head.starts_with("http/1.1 408"), "{head}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("200 ms"),
        "{body}"
    );
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    // Informs to a manager that never answers: nothing leaves the 1 MiB queue.
    let mut serve = daemon(
        "",
        "    notification: inform\n    retries: 0\n    timeout_ms: 100\n\
         backoff: {initial_ms: 60000, max_ms: 60000}\nqueue: {max_mb: 1, segment_mb: 1}\n",
    );
    serve.start();
    let batch: String = (0..200)
        .map(|n| format!("{}\n", stlnk(&format!("fill-{n}"))))
        .collect();
    let ndjson = ("Content-Type", "application/x-ndjson");
    let mut refused = None;
    for _ in 0..50 {
        let (status, body, headers) = post_with(&serve, &[ndjson], &batch);
        match status {
            200 => continue,
            503 => {
                refused = Some((body, headers));
                break;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let (body, headers) = refused.expect("the queue never filled");
    assert_eq!(headers["retry-after"], "1", "{headers:?}");
    assert!(body.contains("full"), "{body}");
    assert_eq!(serve.stop(), Some(0));
}
