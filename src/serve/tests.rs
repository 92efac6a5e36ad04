//! Unit tests of the endpoint: request parsing, routing and the Host rule,
//! rendering, the connection cap and the accept policy on real sockets.
use super::answer::*;
use super::conn::IDLE_AFTER;
use super::http1::*;
use super::limits::*;
use super::*;
use crate::credentials::{Credentials, Secret};
use crate::log::Logger;
use crate::poll::{poll, Interest};
use std::io::ErrorKind;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::time::Instant;

fn req(method: &str, path: &str, auth: Option<&str>) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        host: Some("127.0.0.1:9911".into()),
        to: None,
        authorization: auth.map(Secret::new),
    }
}

fn with_host(host: Option<&str>) -> Request {
    Request {
        host: host.map(str::to_string),
        ..req("GET", "/v1/credentials", None)
    }
}

fn creds() -> Credentials {
    Credentials {
        access_key_id: "ASIASERVE".into(),
        secret_access_key: Secret::new("serve-secret"),
        session_token: Some(Secret::new("serve-token")),
        expiration: Timestamp::from_unix(2_000_000_000),
        account_id: Some("123456789012".into()),
        role_arn: Some("arn:aws:sts::123456789012:assumed-role/r/s".into()),
    }
}

#[test]
fn parses_sdk_requests() {
    let r = b"GET /v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:9911\r\nAuthorization: tok\r\nUser-Agent: aws-sdk-go/1.44\r\n\r\n";
    assert_eq!(
        parse_request(r),
        Parsed::Request(req("GET", "/v1/credentials", Some("tok")))
    );
    assert_eq!(parse_request(b"GE"), Parsed::Incomplete);
    assert_eq!(
        parse_request(b"\x16\x03\x01\x02\x00"),
        Parsed::Bad(400, "not an HTTP request")
    );
    let q = b"GET /v1/credentials?x=1 HTTP/1.0\r\n\r\n";
    assert_eq!(parse_request(q), Parsed::Request(with_host(None)));
    let h = b"GET /v1/credentials HTTP/1.1\r\nhOST:  [::1]:9911 \r\n\r\n";
    assert_eq!(
        parse_request(h),
        Parsed::Request(with_host(Some("[::1]:9911")))
    );
    assert_eq!(
        parse_request(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n"),
        Parsed::Incomplete
    );
    assert_eq!(parse_request(b""), Parsed::Incomplete);
}

/// Only spaces and tabs pad a header value. A no-break space, an em space
/// or a line separator around the token or the host was trimmed away, so a
/// near-miss token passed; now it stays part of the value.
#[test]
fn only_spaces_and_tabs_are_trimmed_from_a_header_value() {
    let padded =
        b"GET /v1/credentials HTTP/1.1\r\nHost: \t localhost \t\r\nAuthorization: \ttok \r\n\r\n";
    match parse_request(padded) {
        Parsed::Request(r) => {
            assert_eq!(r.host.as_deref(), Some("localhost"));
            assert_eq!(r.authorization.as_ref().map(Secret::expose), Some("tok"));
        }
        other => panic!("{other:?}"),
    }
    for blank in [
        "\u{a0}", "\u{85}", "\u{2003}", "\u{2028}", "\u{3000}", "\u{1680}",
    ] {
        let head = format!(
            "GET /v1/credentials HTTP/1.1\r\nHost: localhost{blank}\r\nAuthorization: {blank}tok\r\n\r\n"
        );
        match parse_request(head.as_bytes()) {
            Parsed::Request(r) => {
                assert_eq!(r.host, Some(format!("localhost{blank}")), "{blank:?}");
                let auth = r.authorization.as_ref().map(Secret::expose);
                assert_eq!(auth, Some(format!("{blank}tok").as_str()), "{blank:?}");
            }
            other => panic!("{blank:?}: {other:?}"),
        }
    }
}

/// An absolute-form target (what a client sends a proxy, RFC 9112 section
/// 3.2.2) was a 400, though a server must accept it. Its authority is the
/// host asked for, so the Host rule applies to it; a `Host` header naming
/// another host is refused, not ignored, so the one checked is the only one.
#[test]
fn an_absolute_form_target_is_read_with_its_authority_as_the_host() {
    let abs = b"GET http://127.0.0.1:9911/v1/credentials?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9911\r\nAuthorization: tok\r\n\r\n";
    assert_eq!(
        parse_request(abs),
        Parsed::Request(req("GET", "/v1/credentials", Some("tok")))
    );
    let other = b"GET http://127.0.0.1:9911/v1/credentials HTTP/1.1\r\nHost: evil.example\r\n\r\n";
    assert!(matches!(parse_request(other), Parsed::Bad(400, _)));
    let bare = b"GET HTTP://127.0.0.1:9911 HTTP/1.0\r\n\r\n";
    assert_eq!(
        parse_request(bare),
        Parsed::Request(Request {
            path: "/".into(),
            ..req("GET", "/", None)
        })
    );
    let rebound = b"GET http://evil.example/v1/credentials HTTP/1.0\r\n\r\n";
    match parse_request(rebound) {
        Parsed::Request(r) => assert_eq!(r.host.as_deref(), Some("evil.example")),
        other => panic!("{other:?}"),
    }
    for bad in [
        b"GET http://user@localhost/v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n".as_slice(),
        b"GET http:///v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET https://localhost/v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET http://localhost/v1/credentials HTTP/1.1\r\n\r\n",
    ] {
        assert!(matches!(parse_request(bad), Parsed::Bad(400, _)), "{bad:?}");
    }
    assert_eq!(error_code(505), "HTTPVersionNotSupported");
    assert_eq!(error_code(400), "BadRequest");
}

#[test]
fn refuses_malformed_requests() {
    let cases: [&[u8]; 19] = [
        // A lowercase version is no HTTP version at all; a fragment is
        // never sent.
        b"GET /v1/credentials http/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /v1/credentials#x HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET http://localhost#x HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET /v1/credentials\r\n",
        b"GET /v1/credentials HTTP/1.1\rHost: localhost\r\r",
        // Bare LF line ends: refused at once, not left to time out.
        b"GET /v1/credentials HTTP/1.1\nHost: localhost\n\n",
        b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\n",
        b"GET /v1/credentials HTTP/2.0\r\n\r\n",
        b"get /v1/credentials HTTP/1.1\r\n\r\n",
        b"GET v1/credentials HTTP/1.1\r\n\r\n",
        b"GET  /v1/credentials HTTP/1.1\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nA: 1\r\nAuthorization: a\r\nauthorization: b\r\n\r\n",
        b"\r\n\r\n",
        b"\xff\xfe / HTTP/1.1\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n",
        b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\r\nHost: evil\r\n\r\n",
    ];
    for c in cases {
        match parse_request(c) {
            Parsed::Bad(status, _) => assert!((400..506).contains(&status), "{c:?}"),
            other => panic!("{c:?} gave {other:?}"),
        }
    }
    let huge = [
        b"GET /v1/credentials HTTP/1.1\r\nX: ".as_slice(),
        &vec![b'a'; MAX_REQUEST],
    ]
    .concat();
    assert_eq!(
        parse_request(&huge),
        Parsed::Bad(431, "request headers too large")
    );
}

#[test]
fn routes_and_authorizes() {
    let now = Timestamp::from_unix(1_000);
    let c = creds();
    let ok = answer(
        &req("GET", "/v1/credentials", None),
        Some(&c),
        None,
        Hosts::Loopback,
        now,
    );
    assert_eq!(ok.status, 200);
    let v: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(v["AccessKeyId"], "ASIASERVE");
    assert_eq!(v["SecretAccessKey"], "serve-secret");
    assert_eq!(v["Token"], "serve-token");
    assert_eq!(v["Expiration"], "2033-05-18T03:33:20Z");
    assert_eq!(v["AccountId"], "123456789012");
    assert_eq!(
        answer(&req("GET", "/", None), Some(&c), None, Hosts::Loopback, now).status,
        404
    );
    assert_eq!(
        answer(
            &req("POST", "/v1/credentials", None),
            Some(&c),
            None,
            Hosts::Loopback,
            now
        )
        .status,
        405
    );
    assert_eq!(
        answer(
            &req("GET", "/v1/credentials", None),
            None,
            None,
            Hosts::Loopback,
            now
        )
        .status,
        503
    );
    let late = Timestamp::from_unix(2_000_000_000);
    assert_eq!(
        answer(
            &req("GET", "/v1/credentials", None),
            Some(&c),
            None,
            Hosts::Loopback,
            late
        )
        .status,
        503
    );
    let tok = Secret::new("sekrit");
    assert_eq!(
        answer(
            &req("GET", "/v1/credentials", None),
            Some(&c),
            Some(&tok),
            Hosts::Loopback,
            now
        )
        .status,
        401
    );
    assert_eq!(
        answer(
            &req("GET", "/v1/credentials", Some("sekri")),
            Some(&c),
            Some(&tok),
            Hosts::Loopback,
            now
        )
        .status,
        401
    );
    assert_eq!(
        answer(
            &req("GET", "/v1/credentials", Some("sekrit")),
            Some(&c),
            Some(&tok),
            Hosts::Loopback,
            now
        )
        .status,
        200
    );
    let denied = answer(
        &req("GET", "/v1/credentials", Some("x")),
        Some(&c),
        Some(&tok),
        Hosts::Loopback,
        now,
    );
    assert!(!denied.body.contains("serve-secret") && !denied.body.contains("sekrit"));
}

#[test]
fn answers_only_hosts_that_name_this_machine() {
    let sdk_hosts = [
        "127.0.0.1:9911",
        "127.0.0.1",
        "127.8.9.10:80",
        "localhost:9911",
        "localhost",
        "LocalHost:9911",
        "[::1]:9911",
        "[::1]",
        "[0:0:0:0:0:0:0:1]:9911",
    ];
    let pod_ip: Option<IpAddr> = Some("10.1.2.3".parse().unwrap());
    let local = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    for host in sdk_hosts {
        for (to, hosts) in [
            (local, Hosts::Loopback),
            (local, Hosts::ConnectedIp),
            (pod_ip, Hosts::ConnectedIp),
        ] {
            assert!(host_allowed(host, to, hosts), "{host} under {hosts:?}");
        }
    }
    // What DNS rebinding sends (a name the attacker controls), names
    // made to look local, and what is not a host at all.
    let never = [
        "attacker.example:9911",
        "attacker.example",
        "localhost.attacker.example",
        "127.0.0.1.nip.io:9911",
        "localhost.",
        "localhost:9911:1",
        "127.0.0.1:99a",
        "127.0.0.1:123456",
        "127.1",
        "::1",
        "[::1",
        "[::1]9911",
        "[::1]:x",
        "[localhost]:9911",
        "",
        ":9911",
    ];
    for host in never {
        for (to, hosts) in [(local, Hosts::Loopback), (pod_ip, Hosts::ConnectedIp)] {
            assert!(!host_allowed(host, to, hosts), "{host:?} under {hosts:?}");
        }
    }
    // With --serve-any-address, the address the client connected to, and
    // no other.
    for (host, to) in [
        ("10.1.2.3:9911", "10.1.2.3"),
        ("169.254.170.2", "169.254.170.2"),
        ("[fd00:ec2::23]:80", "fd00:ec2::23"),
        ("10.1.2.3", "::ffff:10.1.2.3"),
    ] {
        let to: IpAddr = to.parse().unwrap();
        let to = Some(to.to_canonical());
        assert!(!host_allowed(host, to, Hosts::Loopback), "{host}");
        assert!(host_allowed(host, to, Hosts::ConnectedIp), "{host}");
        assert!(!host_allowed(host, local, Hosts::ConnectedIp), "{host}");
    }
    for host in ["10.1.2.4", "[::2]", "0.0.0.0", "169.254.170.2"] {
        assert!(!host_allowed(host, pod_ip, Hosts::ConnectedIp), "{host}");
    }
}

#[test]
fn a_refused_host_gets_403_before_anything_else() {
    let now = Timestamp::from_unix(1_000);
    let c = creds();
    let tok = Secret::new("sekrit");
    let evil = Request {
        method: "POST".into(),
        path: "/nowhere".into(),
        ..with_host(Some("attacker.example:9911"))
    };
    let refused = answer(&evil, Some(&c), Some(&tok), Hosts::Loopback, now);
    assert_eq!(refused.status, 403);
    let v: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(v["code"], "InvalidHost");
    assert!(!refused.body.contains("serve-secret") && !refused.body.contains("ASIA"));
    assert_eq!(
        answer(
            &with_host(Some("10.0.0.5")),
            Some(&c),
            None,
            Hosts::Loopback,
            now
        )
        .status,
        403
    );
    let to_pod = |host| Request {
        to: Some("10.0.0.5".parse().unwrap()),
        ..with_host(host)
    };
    assert_eq!(
        answer(
            &to_pod(Some("10.0.0.5")),
            Some(&c),
            None,
            Hosts::ConnectedIp,
            now
        )
        .status,
        200
    );
    assert_eq!(
        answer(
            &to_pod(Some("10.0.0.6")),
            Some(&c),
            None,
            Hosts::ConnectedIp,
            now
        )
        .status,
        403
    );
    // HTTP/1.0 may leave Host out; no SDK does, and nothing then says
    // which name the client used.
    for hosts in [Hosts::Loopback, Hosts::ConnectedIp] {
        assert_eq!(
            answer(&to_pod(None), Some(&c), None, hosts, now).status,
            403
        );
    }
    assert!(render(&refused).starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
}

#[test]
fn the_connection_cap_leaves_descriptors_for_the_rest() {
    assert_eq!(connection_cap(None), MAX_CONNECTIONS);
    assert_eq!(connection_cap(Some(1 << 20)), MAX_CONNECTIONS);
    assert_eq!(connection_cap(Some(1024)), MAX_CONNECTIONS);
    assert_eq!(connection_cap(Some(128)), 128 - RESERVED_FDS as usize);
    assert_eq!(connection_cap(Some(RESERVED_FDS)), 1);
    assert_eq!(connection_cap(Some(0)), 1);
}

#[test]
fn the_metrics_get_a_quarter_of_the_connections_beside_the_endpoint() {
    assert_eq!(shared_caps(None), (MAX_CONNECTIONS, MAX_CONNECTIONS));
    assert_eq!(
        shared_caps(Some(1 << 20)),
        (MAX_CONNECTIONS, MAX_CONNECTIONS)
    );
    // The default soft limit: the endpoint keeps its 512.
    assert_eq!(shared_caps(Some(1024)), (MAX_CONNECTIONS, 248));
    // Together they keep the reserve free.
    let (endpoint, metrics) = shared_caps(Some(128));
    assert_eq!((endpoint, metrics), (72, 24));
    assert_eq!(endpoint + metrics, 128 - RESERVED_FDS as usize);
    assert_eq!(shared_caps(Some(RESERVED_FDS)), (1, 1));
}

#[test]
fn accept_failures_pause_longer_and_longer_and_warn_once_per_interval() {
    let ms = Duration::from_millis;
    let t0 = Instant::now();
    let mut f = AcceptFailures::new();
    assert_eq!(f.paused(t0), None, "no pause before a failure");
    assert_eq!(f.failed(t0), Some(1), "the first one is reported");
    assert_eq!(f.pause(t0), ms(50));
    assert_eq!(f.paused(t0), Some(t0 + ms(50)));
    assert_eq!(f.paused(t0 + ms(50)), None, "the pause ends by itself");
    let mut pauses = Vec::new();
    for i in 1..=6 {
        let at = t0 + Duration::from_secs(i);
        assert_eq!(f.failed(at), None, "within 10 s of the last warning");
        pauses.push(f.pause(at).as_millis());
    }
    assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(
        f.failed(t0 + ACCEPT_WARNING_INTERVAL),
        Some(7),
        "the next warning counts every failure since the last"
    );
    f.succeeded();
    assert_eq!(f.pause(t0 + Duration::from_secs(11)), ms(50));
}

/// Connects to `server` and waits until the connection is queued.
fn connect(server: &Server<Endpoint>) -> TcpStream {
    let addr = server.local_addr().expect("bound");
    let client = TcpStream::connect(addr).expect("connect");
    assert!(
        readable(server.sockets.listeners[0].as_fd()),
        "never queued"
    );
    client
}

fn readable(fd: BorrowedFd<'_>) -> bool {
    poll(&[(fd, Interest::Read)], Duration::from_secs(10))[0]
}

/// What a client received before the server closed the connection.
fn received(mut client: TcpStream) -> String {
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a timeout");
    let mut got = Vec::new();
    match client.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server never closed the connection: {e}"),
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn past_the_cap_a_complete_request_is_answered_and_the_oldest_idle_one_goes() {
    let c = creds();
    let quiet = Logger::new(crate::log::Format::Text, crate::log::Level::Error);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = Endpoint {
        token: None,
        hosts: Hosts::Loopback,
        creds: Some(c),
        status: None,
    };
    let mut server = Server::bind(loopback, "--serve", "serve", endpoint, quiet).expect("bind");
    server.sockets.cap = 2;
    let request = b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n";

    // Two silent connections fill the set; no one is waiting, so no one
    // is closed.
    let mut first = connect(&server);
    server.sockets.accept(0, &server.handler);
    let second = connect(&server);
    server.sockets.accept(0, &server.handler);
    assert_eq!(server.sockets.conns.len(), 2);
    // Their ages are pinned: the policy is under test here, not the
    // kernel's TCP_INFO count (`silence_in_the_accept_queue_counts_towards_idle`
    // tests that), which a loaded sandbox can blur by tens of milliseconds.
    server.sockets.conns[0].connected -= Duration::from_secs(120);
    server.sockets.conns[1].connected -= Duration::from_secs(60);

    // Both are idle by now, but the oldest has sent its request by the time
    // a third client needs its slot: it is answered, not closed.
    std::thread::sleep(IDLE_AFTER);
    first.write_all(request).expect("send");
    assert!(readable(server.sockets.conns[0].stream.as_fd()));
    let third = connect(&server);
    server.sockets.accept(0, &server.handler);
    assert!(received(first).starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(server.sockets.conns.len(), 2, "the second and third stay");

    // A fourth, while the third is still new: nobody is idle enough to go
    // but the second, which does.
    let fourth = connect(&server);
    server.sockets.accept(0, &server.handler);
    assert_eq!(
        received(second),
        "",
        "the oldest idle connection was closed"
    );
    assert_eq!(server.sockets.conns.len(), 2, "the third and fourth stay");

    // A fifth, while the third and fourth are new: it waits in the accept
    // queue rather than anyone being closed. (New: however slowly a loaded
    // machine got here.)
    for conn in &mut server.sockets.conns {
        conn.connected = Instant::now();
    }
    let fifth = connect(&server);
    server.sockets.accept(0, &server.handler);
    assert_eq!(server.sockets.conns.len(), 2, "nobody closed for it yet");
    drop((third, fourth, fifth));
}

/// Under a flood of idle sockets, each one got `IDLE_AFTER` from
/// its accept before it could make room, so with few descriptors (a cap of
/// 8) a probe queued behind them waited over a second. A socket that was
/// silent in the accept queue that long is idle as soon as it is accepted.
#[test]
fn silence_in_the_accept_queue_counts_towards_idle() {
    let quiet = Logger::new(crate::log::Format::Text, crate::log::Level::Error);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = Endpoint {
        token: None,
        hosts: Hosts::Loopback,
        creds: Some(creds()),
        status: None,
    };
    let mut server = Server::bind(loopback, "--serve", "serve", endpoint, quiet).expect("bind");
    server.sockets.cap = 2;
    let silent: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    server.sockets.accept(0, &server.handler);
    assert_eq!(
        server.sockets.conns.len(),
        2,
        "the cap is full of fresh sockets"
    );
    // More silent ones, then a client with its request, all queued.
    let queued: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    let mut probe = connect(&server);
    probe
        .write_all(b"GET /v1/credentials HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    std::thread::sleep(IDLE_AFTER + Duration::from_millis(20));
    // One round of accepting reaches the probe: each silent socket taken
    // from the queue is idle already, and the next newcomer replaces it.
    server.sockets.accept(0, &server.handler);
    assert!(
        poll(&[(probe.as_fd(), Interest::Read)], Duration::ZERO)[0],
        "the probe is still queued behind silent sockets"
    );
    assert!(received(probe).starts_with("HTTP/1.1 200 OK\r\n"));
    drop((silent, queued));
}

#[test]
fn renders_http() {
    let wire = String::from_utf8(render(&Answer::json_error(
        405,
        "MethodNotAllowed",
        "only GET",
    )))
    .unwrap();
    assert!(wire.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(wire.contains("Allow: GET\r\n"));
    assert!(wire.contains("Connection: close\r\n"));
    let body = wire.split("\r\n\r\n").nth(1).unwrap();
    assert!(wire.contains(&format!("Content-Length: {}\r\n", body.len())));
}

#[test]
fn constant_time_comparison() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(!constant_time_eq(b"", b"a"));
    assert!(constant_time_eq(b"", b""));
}

/// A port someone else has: the error names it and says what to do.
#[test]
fn a_port_in_use_says_what_to_do() {
    let quiet = Logger::new(crate::log::Format::Text, crate::log::Level::Error);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let endpoint = Endpoint {
        token: None,
        hosts: Hosts::Loopback,
        creds: None,
        status: None,
    };
    let Err(e) = Server::bind(addr, "--serve", "serve", endpoint, quiet) else {
        panic!("bound a port in use");
    };
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("--serve {addr}: cannot listen there: ")),
        "{msg}"
    );
    assert!(
        msg.ends_with("stop what listens there, or choose another port"),
        "{msg}"
    );
}
