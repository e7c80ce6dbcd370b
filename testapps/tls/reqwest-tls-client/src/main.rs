//! reqwest 0.12 HTTPS load client over rustls 0.23: HTTP/2 or HTTP/1.1 as ALPN chooses.
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/reqwest_load.rs"]
mod load;

use std::time::Duration;

const USAGE_HEAD: &str = "usage: reqwest-tls-client --url URL [--url URL ...] [--ca PEM] [--http1] [--count N] [--concurrency C]
                      [--method GET|POST] [--body-size BYTES] [--wait]
  --ca PEM          trust this CA (the test's own; default url https://127.0.0.1:8443/health)
  --http1           offer only HTTP/1.1 by ALPN (default: h2 and HTTP/1.1)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let usage = format!("{USAGE_HEAD}\n{}", load::OPTIONS);
    let args = cli::Args::parse(&["wait", "http1"], &usage);
    let load = load::Load::from_args(&args, "https://127.0.0.1:8443/health", &usage);
    let mut builder = reqwest::Client::builder().use_rustls_tls().timeout(Duration::from_secs(30));
    if let Some(ca) = args.get("ca") {
        let pem = std::fs::read(&ca).unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}")));
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}"))));
    }
    if args.flag("http1") {
        builder = builder.http1_only();
    }
    load.run(env!("CARGO_PKG_NAME"), builder.build().expect("reqwest client")).await
}
