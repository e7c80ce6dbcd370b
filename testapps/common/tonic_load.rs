//! The load the tonic clients make over one channel (plaintext and TLS): every RPC is GetUser (OK),
//! or with `mix` RPC i is, cycling:
//!   0 GetUser OK, 1 GetUser "notfound" (NOT_FOUND), 2 GetUser "fail" (INTERNAL),
//!   3 ListUsers(count 100), 4 Echo(1 MiB)
//! Error statuses that the mix expects count as results, not failures.
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use demo_proto::users_client::UsersClient;
use demo_proto::{EchoRequest, GetUserRequest, ListUsersRequest};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::cli;

pub const OPTIONS: &str = "  --count N         total RPCs (default 100)
  --concurrency C   parallel RPCs over one HTTP/2 channel (default 1)
  --mix             cycle GetUser OK / NOT_FOUND / INTERNAL, ListUsers(100), Echo(1 MiB)
  --wait            print 'ready' and wait for a stdin line before; print 'done' and wait again after";
const ECHO_SIZE: usize = 1024 * 1024;

#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    not_found: AtomicU64,
    internal: AtomicU64,
    unexpected: AtomicU64,
    stream_msgs: AtomicU64,
    echo_bytes: AtomicU64,
}

async fn one(client: &mut UsersClient<Channel>, i: usize, mix: bool, st: &Stats, payload: &[u8]) {
    let kind = if mix { i % 5 } else { 0 };
    let expected = match kind {
        1 => Code::NotFound,
        2 => Code::Internal,
        _ => Code::Ok,
    };
    let result: Result<(), tonic::Status> = match kind {
        0 | 1 | 2 => {
            let id = match kind {
                0 => (i + 1).to_string(),
                1 => "notfound".to_string(),
                _ => "fail".to_string(),
            };
            client.get_user(GetUserRequest { id }).await.map(|_| ())
        }
        3 => match client.list_users(ListUsersRequest { count: 100 }).await {
            Ok(resp) => {
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {
                            st.stream_msgs.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(None) => break Ok(()),
                        Err(s) => break Err(s),
                    }
                }
            }
            Err(s) => Err(s),
        },
        _ => client.echo(EchoRequest { payload: payload.to_vec() }).await.and_then(|r| {
            let n = r.into_inner().payload.len();
            st.echo_bytes.fetch_add(n as u64, Ordering::Relaxed);
            if n == payload.len() {
                Ok(())
            } else {
                Err(tonic::Status::data_loss(format!("echo returned {n} bytes")))
            }
        }),
    };
    let code = match &result {
        Ok(()) => Code::Ok,
        Err(s) => s.code(),
    };
    match code {
        c if c != expected => {
            if st.unexpected.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("rpc {i}: expected {expected:?}, got {result:?}");
            }
        }
        Code::Ok => {
            st.ok.fetch_add(1, Ordering::Relaxed);
        }
        Code::NotFound => {
            st.not_found.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            st.internal.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// run makes the load the arguments ask for over one channel to endpoint, prints what came of it as
/// `<name>: rpcs=...`, and exits: 0 when every RPC got its expected outcome, 1 otherwise (e.g. the
/// server is unreachable).
pub async fn run(name: &str, args: &cli::Args, endpoint: Endpoint) -> ! {
    let addr = endpoint.uri().to_string();
    let endpoint = endpoint.connect_timeout(Duration::from_secs(5));
    let count: usize = args.num("count", 100);
    let concurrency: usize = args.num("concurrency", 1).max(1);
    let mix = args.flag("mix");
    let wait = args.flag("wait");

    if wait {
        cli::wait_ready().await;
    }
    let start = Instant::now();
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{name}: connect {addr}: {e}");
            std::process::exit(1);
        }
    };
    let client = UsersClient::new(channel)
        .max_decoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(demo_proto::MAX_MESSAGE_SIZE);
    let stats = Arc::new(Stats::default());
    let next = Arc::new(AtomicUsize::new(0));
    let payload: Arc<Vec<u8>> = Arc::new((0..ECHO_SIZE).map(|i| (i % 251) as u8).collect());
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(count.max(1)) {
        let (mut client, stats, next, payload) = (client.clone(), stats.clone(), next.clone(), payload.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                one(&mut client, i, mix, &stats, &payload).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let el = start.elapsed().as_secs_f64();
    let s = &*stats;
    let (ok, nf, int, bad) = (
        s.ok.load(Ordering::Relaxed),
        s.not_found.load(Ordering::Relaxed),
        s.internal.load(Ordering::Relaxed),
        s.unexpected.load(Ordering::Relaxed),
    );
    println!(
        "{name}: rpcs={count} ok={ok} err={} (not_found={nf} internal={int}) unexpected={bad} stream_msgs={} echo_bytes={} elapsed={el:.3}s",
        nf + int,
        s.stream_msgs.load(Ordering::Relaxed),
        s.echo_bytes.load(Ordering::Relaxed),
    );
    if wait {
        cli::wait_done().await;
    }
    std::process::exit(if bad == 0 { 0 } else { 1 });
}
