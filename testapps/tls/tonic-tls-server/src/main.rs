//! tonic 0.12 gRPC server over TLS (tonic's `tls`: rustls 0.23 through tokio-rustls 0.26), service
//! demo.v1.Users (common/users_svc.rs).
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/users_svc.rs"]
mod users_svc;

use tonic::transport::{Identity, ServerTlsConfig};

const USAGE: &str = "usage: tonic-tls-server --cert PEM --key PEM [--listen ADDR]   (default 127.0.0.1:0)
  --cert, --key   the server's certificate chain and private key (PEM)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    let read = |flag: &str| {
        let path = args.get(flag).unwrap_or_else(|| cli::die(USAGE, &format!("--{flag} is required")));
        std::fs::read(&path).unwrap_or_else(|e| cli::die(USAGE, &format!("--{flag} {path}: {e}")))
    };
    let identity = Identity::from_pem(read("cert"), read("key"));
    cli::exit_on_signal();

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    tonic::transport::Server::builder()
        .tls_config(ServerTlsConfig::new().identity(identity))
        .unwrap_or_else(|e| cli::die(USAGE, &format!("--cert/--key: {e}")))
        .add_service(users_svc::service())
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serve");
}
