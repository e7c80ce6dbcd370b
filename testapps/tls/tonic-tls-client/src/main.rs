//! tonic 0.12 gRPC client for demo.v1.Users over TLS (tonic's `tls`: rustls 0.23): the load of
//! common/tonic_load.rs over one channel.
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/tonic_load.rs"]
mod load;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const USAGE_HEAD: &str = "usage: tonic-tls-client --ca PEM [--addr URL] [--count N] [--concurrency C] [--mix] [--wait]
  --ca PEM          trust this CA (the test's own); the server is named localhost
  --addr URL        default https://127.0.0.1:50051";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let usage = format!("{USAGE_HEAD}\n{}", load::OPTIONS);
    let args = cli::Args::parse(&["mix", "wait"], &usage);
    let addr = args.get_or("addr", "https://127.0.0.1:50051");
    let ca = args.get("ca").unwrap_or_else(|| cli::die(&usage, "--ca is required"));
    let pem = std::fs::read(&ca).unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}")));
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)).domain_name("localhost");
    let endpoint = Endpoint::from_shared(addr.clone())
        .unwrap_or_else(|e| cli::die(&usage, &format!("--addr {addr:?}: {e}")))
        .tls_config(tls)
        .unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}")));
    load::run("tonic-tls-client", &args, endpoint).await
}
