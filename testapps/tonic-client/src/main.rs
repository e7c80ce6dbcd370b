//! tonic 0.12 gRPC client for demo.v1.Users: the load of common/tonic_load.rs over one channel.
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/tonic_load.rs"]
mod load;

use tonic::transport::Endpoint;

const USAGE_HEAD: &str = "usage: tonic-client [--addr URL] [--count N] [--concurrency C] [--mix] [--wait]
  --addr URL        default http://127.0.0.1:50051";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let usage = format!("{USAGE_HEAD}\n{}", load::OPTIONS);
    let args = cli::Args::parse(&["mix", "wait"], &usage);
    let addr = args.get_or("addr", "http://127.0.0.1:50051");
    let endpoint = Endpoint::from_shared(addr.clone()).unwrap_or_else(|e| cli::die(&usage, &format!("--addr {addr:?}: {e}")));
    load::run("tonic-client", &args, endpoint).await
}
