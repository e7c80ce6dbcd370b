//! reqwest HTTP load client (plain http). The same source builds as `reqwest-client` (reqwest 0.12,
//! this workspace) and `legacy/reqwest011-client` (reqwest 0.11): only APIs common to both are used.
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/reqwest_load.rs"]
mod load;

use std::time::Duration;

const USAGE_HEAD: &str = "usage: reqwest-client --url URL [--url URL ...] [--count N] [--concurrency C]
                      [--method GET|POST] [--body-size BYTES] [--http2] [--wait]
  --http2           HTTP/2 prior knowledge (h2c) instead of HTTP/1.1 (default url http://127.0.0.1:8080/health)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let usage = format!("{USAGE_HEAD}\n{}", load::OPTIONS);
    let args = cli::Args::parse(&["wait", "http2"], &usage);
    let load = load::Load::from_args(&args, "http://127.0.0.1:8080/health", &usage);
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if args.flag("http2") {
        builder = builder.http2_prior_knowledge();
    }
    load.run(env!("CARGO_PKG_NAME"), builder.build().expect("reqwest client")).await
}
