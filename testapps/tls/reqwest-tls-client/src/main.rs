//! reqwest HTTPS load client: HTTP/2 or HTTP/1.1 as ALPN chooses. Over rustls (reqwest-tls-client:
//! reqwest 0.12, rustls 0.23), or, with the feature `native`, over native-tls, OpenSSL's libssl
//! (reqwest-native-client: reqwest 0.12; reqwest011-native-client: reqwest 0.11, HTTP/1.1).
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/reqwest_load.rs"]
mod load;

use std::time::Duration;

const USAGE_HEAD: &str = " --url URL [--url URL ...] [--ca PEM] [--http1] [--count N] [--concurrency C]
       [--method GET|POST] [--body-size BYTES] [--wait]
  --ca PEM          trust this CA (the test's own; default url https://127.0.0.1:8443/health)
  --http1           offer only HTTP/1.1 by ALPN (default: h2 and HTTP/1.1)";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let usage = format!("usage: {}{USAGE_HEAD}\n{}", env!("CARGO_PKG_NAME"), load::OPTIONS);
    let args = cli::Args::parse(&["wait", "http1"], &usage);
    let load = load::Load::from_args(&args, "https://127.0.0.1:8443/health", &usage);
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    #[cfg(not(feature = "native"))]
    let mut builder = builder.use_rustls_tls();
    #[cfg(feature = "native")]
    let mut builder = builder.use_native_tls();
    if let Some(ca) = args.get("ca") {
        let pem = std::fs::read(&ca).unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}")));
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| cli::die(&usage, &format!("--ca {ca}: {e}"))));
    }
    if args.flag("http1") {
        builder = builder.http1_only();
    }
    load.run(env!("CARGO_PKG_NAME"), builder.build().expect("reqwest client")).await
}
