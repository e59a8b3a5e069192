//! A small FHIR server on loopback for the CDS Hooks fetch tests: answers GETs by path and a
//! query substring with a JSON resource, a status, or silence for a while, and records every
//! request's target and `Authorization` header.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// What a route answers.
#[derive(Clone)]
pub enum Reply {
    Json(Value),
    Status(u16),
    /// Waits this long, then closes without answering.
    Hang(Duration),
}

#[derive(Clone)]
struct Route {
    path: String,
    query_contains: String,
    reply: Reply,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub authorization: Option<String>,
}

pub struct FhirServer {
    /// `http://127.0.0.1:<port>/fhir`.
    pub base: String,
    routes: Arc<Mutex<Vec<Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FhirServer {
    pub fn start() -> FhirServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let routes: Arc<Mutex<Vec<Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (Arc::clone(&routes), Arc::clone(&seen));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, s) = (Arc::clone(&r), Arc::clone(&s));
                std::thread::spawn(move || serve(stream, &r, &s));
            }
        });
        FhirServer {
            base: format!("http://127.0.0.1:{port}/fhir"),
            routes,
            seen,
        }
    }

    /// Answers GET `<base>/<path>?…` whose query contains `query_contains` (first match wins).
    pub fn route(&self, path: &str, query_contains: &str, reply: Reply) {
        self.routes.lock().expect("routes").push(Route {
            path: format!("/fhir/{path}"),
            query_contains: query_contains.to_string(),
            reply,
        });
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve(mut stream: TcpStream, routes: &Mutex<Vec<Route>>, seen: &Mutex<Vec<Seen>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).to_string();
    let mut lines = text.lines();
    let target = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_string());
    seen.lock().expect("seen").push(Seen {
        target: target.clone(),
        authorization,
    });
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let reply = routes
        .lock()
        .expect("routes")
        .iter()
        .find(|r| r.path == path && query.contains(&r.query_contains))
        .map(|r| r.reply.clone())
        .unwrap_or(Reply::Status(404));
    let response = match reply {
        Reply::Json(body) => {
            let body = body.to_string();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        Reply::Status(code) => {
            format!("HTTP/1.1 {code} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        }
        Reply::Hang(d) => {
            std::thread::sleep(d);
            return;
        }
    };
    let _ = stream.write_all(response.as_bytes());
}
