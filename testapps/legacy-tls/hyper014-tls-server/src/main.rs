//! hyper 0.14 HTTPS server over native-tls (OpenSSL's libssl through tokio-native-tls 0.3),
//! HTTP/1.1 (native-tls has no server-side ALPN), the routes of common/hyper014_routes.rs.
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/hyper014_routes.rs"]
mod routes;

use hyper::server::conn::Http;
use hyper::service::service_fn;

const USAGE: &str = "usage: hyper014-tls-server --cert PEM --key PEM [--listen ADDR]   (default 127.0.0.1:0)
  --cert, --key   the server's certificate chain and private key (PEM, PKCS#8)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    let read = |flag: &str| {
        let path = args.get(flag).unwrap_or_else(|| cli::die(USAGE, &format!("--{flag} is required")));
        std::fs::read(&path).unwrap_or_else(|e| cli::die(USAGE, &format!("--{flag} {path}: {e}")))
    };
    let identity = native_tls::Identity::from_pkcs8(&read("cert"), &read("key"))
        .unwrap_or_else(|e| cli::die(USAGE, &format!("--cert/--key: {e}")));
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap_or_else(|e| cli::die(USAGE, &format!("TLS acceptor: {e}")));
    let acceptor = tokio_native_tls::TlsAcceptor::from(acceptor);
    cli::exit_on_signal();
    let big = routes::big();

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, big) = (acceptor.clone(), big.clone());
        tokio::spawn(async move {
            // A client that fails the handshake or sends garbage just loses its connection.
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let _ = Http::new()
                .http1_only(true)
                .serve_connection(tls, service_fn(move |req| routes::handle(req, big.clone())))
                .await;
        });
    }
}
