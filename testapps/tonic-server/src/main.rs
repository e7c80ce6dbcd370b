//! tonic 0.12 gRPC server, service demo.v1.Users (common/users_svc.rs).
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/users_svc.rs"]
mod users_svc;

const USAGE: &str = "usage: tonic-server [--listen ADDR]   (default 127.0.0.1:0)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    cli::exit_on_signal();

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    tonic::transport::Server::builder()
        .add_service(users_svc::service())
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serve");
}
