//! reqwest HTTP load client (plain http). The same source builds as `reqwest-client` (reqwest 0.12,
//! this workspace) and `legacy/reqwest011-client` (reqwest 0.11): only APIs common to both are used.
//! Non-2xx responses are results, not failures; exit status 1 only on transport errors.
#[path = "../../common/cli.rs"]
mod cli;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: reqwest-client --url URL [--url URL ...] [--count N] [--concurrency C]
                      [--method GET|POST] [--body-size BYTES] [--http2] [--wait]
  --url URL         repeatable; request i goes to url[i % n] (default http://127.0.0.1:8080/health)
  --count N         total requests (default 100)
  --concurrency C   parallel requests (default 1)
  --method M        GET (default) or POST
  --body-size B     POST body size in bytes (default 0)
  --http2           HTTP/2 prior knowledge (h2c) instead of HTTP/1.1
  --wait            print 'ready' and wait for a stdin line before; print 'done' and wait again after";

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    non2xx: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let name = env!("CARGO_PKG_NAME");
    let args = cli::Args::parse(&["wait", "http2"], USAGE);
    let mut urls = args.all("url");
    if urls.is_empty() {
        urls.push("http://127.0.0.1:8080/health".to_string());
    }
    let count: usize = args.num("count", 100);
    let concurrency: usize = args.num("concurrency", 1).max(1);
    let post = match args.get_or("method", "GET").to_ascii_uppercase().as_str() {
        "GET" => false,
        "POST" => true,
        m => cli::die(USAGE, &format!("--method {m}: want GET or POST")),
    };
    let body_size: usize = args.num("body-size", 0);
    let wait = args.flag("wait");

    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if args.flag("http2") {
        builder = builder.http2_prior_knowledge();
    }
    let client = builder.build().expect("reqwest client");
    let body: Arc<Vec<u8>> = Arc::new((0..body_size).map(|i| b'a' + (i % 26) as u8).collect());
    let urls = Arc::new(urls);

    if wait {
        cli::wait_ready().await;
    }
    let start = Instant::now();
    let stats = Arc::new(Stats::default());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(count.max(1)) {
        let (client, stats, next, urls, body) = (client.clone(), stats.clone(), next.clone(), urls.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let url = &urls[i % urls.len()];
                let req = if post { client.post(url.as_str()).body(body.to_vec()) } else { client.get(url.as_str()) };
                let res = match req.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        if stats.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("{url}: {e}");
                        }
                        continue;
                    }
                };
                let success = res.status().is_success();
                match res.bytes().await {
                    Ok(b) => {
                        stats.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                        if success { &stats.ok } else { &stats.non2xx }.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if stats.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("{url}: body: {e}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let el = start.elapsed().as_secs_f64();
    let errors = stats.errors.load(Ordering::Relaxed);
    println!(
        "{name}: requests={count} ok={} non2xx={} errors={errors} bytes_received={} elapsed={el:.3}s",
        stats.ok.load(Ordering::Relaxed),
        stats.non2xx.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed),
    );
    if wait {
        cli::wait_done().await;
    }
    std::process::exit(if errors == 0 { 0 } else { 1 });
}
