//! The load loop of the reqwest clients (reqwest-client, legacy/reqwest011-client,
//! tls/reqwest-tls-client; included with `#[path]`): only APIs common to reqwest 0.11 and 0.12.
//! Non-2xx responses are results, not failures; exit status 1 only on transport errors.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::cli;

pub const OPTIONS: &str = "  --url URL         repeatable; request i goes to url[i % n]
  --count N         total requests (default 100)
  --concurrency C   parallel requests (default 1)
  --method M        GET (default) or POST
  --body-size B     POST body size in bytes (default 0)
  --wait            print 'ready' and wait for a stdin line before; print 'done' and wait again after";

/// The requests `args` asks for.
pub struct Load {
    urls: Arc<Vec<String>>,
    count: usize,
    concurrency: usize,
    post: bool,
    body: Arc<Vec<u8>>,
    wait: bool,
}

impl Load {
    pub fn from_args(args: &cli::Args, default_url: &str, usage: &str) -> Load {
        let mut urls = args.all("url");
        if urls.is_empty() {
            urls.push(default_url.to_string());
        }
        let post = match args.get_or("method", "GET").to_ascii_uppercase().as_str() {
            "GET" => false,
            "POST" => true,
            m => cli::die(usage, &format!("--method {m}: want GET or POST")),
        };
        let body_size: usize = args.num("body-size", 0);
        Load {
            urls: Arc::new(urls),
            count: args.num("count", 100),
            concurrency: args.num("concurrency", 1).max(1),
            post,
            body: Arc::new((0..body_size).map(|i| b'a' + (i % 26) as u8).collect()),
            wait: args.flag("wait"),
        }
    }

    /// Sends the requests with client, prints the totals as `name: requests=...` and exits.
    pub async fn run(self, name: &str, client: reqwest::Client) {
        if self.wait {
            cli::wait_ready().await;
        }
        let start = Instant::now();
        let stats = Arc::new(Stats::default());
        let next = Arc::new(AtomicUsize::new(0));
        let count = self.count;
        let mut tasks = Vec::new();
        for _ in 0..self.concurrency.min(count.max(1)) {
            let (client, stats, next, urls, body, post) =
                (client.clone(), stats.clone(), next.clone(), self.urls.clone(), self.body.clone(), self.post);
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
        if self.wait {
            cli::wait_done().await;
        }
        std::process::exit(if errors == 0 { 0 } else { 1 });
    }
}

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    non2xx: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}
