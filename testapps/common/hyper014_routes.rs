//! The routes of the hyper 0.14 test servers (plaintext and TLS), as hyper-server's:
//!   GET  /health        "ok"
//!   POST /echo          echoes the request body (up to 8 MiB, else 413)
//!   GET  /status/:code  responds with that status code (200..=599)
//!   GET  /slow          sleeps 50 ms, "slow"
//!   GET  /chunked       chunked response (HTTP/1.1), 5 chunks
//!   GET  /big           1 MiB body
//!   anything else       404
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Body, HeaderMap, Method, Request, Response, StatusCode};

const MAX_BODY: usize = 8 * 1024 * 1024;
const BIG: usize = 1024 * 1024;

/// The body /big serves.
pub fn big() -> Bytes {
    Bytes::from((0..BIG).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>())
}

fn text(status: StatusCode, body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn octets(body: impl Into<Body>) -> Response<Body> {
    let mut r = Response::new(body.into());
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    r
}

fn content_length(h: &HeaderMap) -> Option<usize> {
    h.get(hyper::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

async fn read_body_limited(mut body: Body, limit: usize) -> Result<Bytes, String> {
    use hyper::body::HttpBody;
    let mut buf = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if buf.len() + chunk.len() > limit {
            return Err(format!("body larger than {limit} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

pub async fn handle(req: Request<Body>, big: Bytes) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let res = match (&method, path.as_str()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::POST, "/echo") => {
            if content_length(req.headers()).map_or(false, |n| n > MAX_BODY) {
                text(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n")
            } else {
                match read_body_limited(req.into_body(), MAX_BODY).await {
                    Ok(b) => octets(b),
                    Err(e) => text(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")),
                }
            }
        }
        (&Method::GET, "/slow") => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            text(StatusCode::OK, "slow")
        }
        (&Method::GET, "/chunked") => {
            let stream = futures::stream::unfold(0u32, |i| async move {
                if i >= 5 {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Some((Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))), i + 1))
            });
            text(StatusCode::OK, Body::wrap_stream(stream))
        }
        (&Method::GET, "/big") => octets(big),
        (&Method::GET, p) if p.starts_with("/status/") => {
            let code = &p["/status/".len()..];
            match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)).and_then(|c| StatusCode::from_u16(c).ok()) {
                Some(s) if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED => {
                    let mut r = Response::new(Body::empty());
                    *r.status_mut() = s;
                    r
                }
                Some(s) => text(s, format!("status {}\n", s.as_u16())),
                None => text(StatusCode::BAD_REQUEST, format!("bad status code {code:?}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(res)
}

