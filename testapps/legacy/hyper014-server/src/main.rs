//! hyper 0.14 test server: HTTP/1.1 and h2c prior knowledge on the same port (hyper's default
//! "fallback" connection mode when both http1 and http2 are enabled), the routes of
//! common/hyper014_routes.rs (hyper-server's).
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/hyper014_routes.rs"]
mod routes;

use std::convert::Infallible;

use hyper::service::{make_service_fn, service_fn};
use hyper::Server;

const USAGE: &str = "usage: hyper014-server [--listen ADDR]   (default 127.0.0.1:0)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    cli::exit_on_signal();
    let big = routes::big();

    let listener = std::net::TcpListener::bind(&listen).unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local_addr");
    let make = make_service_fn(move |_conn| {
        let big = big.clone();
        async move { Ok::<_, Infallible>(service_fn(move |req| routes::handle(req, big.clone()))) }
    });
    let server = Server::from_tcp(listener).expect("from_tcp").tcp_nodelay(true).serve(make);
    cli::print_listening(addr);
    server.await.expect("serve");
}
