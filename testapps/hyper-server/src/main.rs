//! hyper 1.x test server (HTTP/1.1 and h2c prior knowledge on the same port, via
//! hyper-util's server::conn::auto). Routes:
//!   GET  /health        "ok"
//!   POST /echo          echoes the request body (up to 8 MiB, else 413)
//!   GET  /status/:code  responds with that status code (200..=599)
//!   GET  /slow          sleeps 50 ms, "slow"
//!   GET  /chunked       chunked response (HTTP/1.1), 5 chunks / DATA frames
//!   GET  /big           1 MiB body
//!   anything else       404
#[path = "../../common/cli.rs"]
mod cli;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const USAGE: &str = "usage: hyper-server [--listen ADDR]   (default 127.0.0.1:0)";
const MAX_BODY: usize = 8 * 1024 * 1024;
const BIG: usize = 1024 * 1024;

type Body = BoxBody<Bytes, Infallible>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = full(status, body);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

async fn handle(req: Request<Incoming>, big: Bytes) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let res = match (&method, path.as_str()) {
        (&Method::GET, "/health") => text(StatusCode::OK, "ok"),
        (&Method::POST, "/echo") => match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(c) => {
                let mut r = full(StatusCode::OK, c.to_bytes());
                r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
                r
            }
            Err(e) => text(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")),
        },
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
                Some((Ok::<_, Infallible>(Frame::data(Bytes::from(format!("chunk {i}\n")))), i + 1))
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        (&Method::GET, "/big") => {
            let mut r = full(StatusCode::OK, big);
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            r
        }
        (&Method::GET, p) if p.starts_with("/status/") => {
            let code = &p["/status/".len()..];
            match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)).and_then(|c| StatusCode::from_u16(c).ok()) {
                Some(s) if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED => full(s, Bytes::new()),
                Some(s) => text(s, format!("status {}\n", s.as_u16())),
                None => text(StatusCode::BAD_REQUEST, format!("bad status code {code:?}\n")),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(res)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    cli::exit_on_signal();
    let big = Bytes::from((0..BIG).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>());

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let big = big.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(req, big.clone()));
            // auto: HTTP/1.1, or HTTP/2 when the connection starts with the h2 preface (h2c prior knowledge)
            if let Err(e) = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), svc).await {
                let _ = e; // client resets / early closes are normal in tests
            }
        });
    }
}
