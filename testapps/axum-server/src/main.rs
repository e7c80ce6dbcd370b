//! axum 0.7 test server. Routes:
//!   GET  /health              "ok"
//!   GET  /users/:id           {"id","name"}; id "0" -> 404 {"error"}
//!   POST /echo                echoes the request body (up to 8 MiB)
//!   GET  /slow                sleeps 50 ms, "slow"
//!   GET  /status/:code        responds with that status code (200..=599)
//!   GET  /api/v1/items/:id    {"id","item"}          (nested router)
//!   POST /api/v1/orders       201 {"order_id","bytes"} (nested router)
//!   GET  /chunked             chunked response, 5 chunks
//!   GET  /big                 1 MiB body
//!   GET  /call/http/:rid      reqwest GET $DOWNSTREAM_URL/users/:rid -> 200 {"downstream_status","body_len"} | 502
//!   GET  /call/grpc/:rid      tonic GetUser{id: rid} at $GRPC_ADDR -> 200 {"id","name"} | 502
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/axum_routes.rs"]
mod routes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use demo_proto::users_client::UsersClient;
use demo_proto::GetUserRequest;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};

const USAGE: &str = "usage: axum-server [--listen ADDR]   (default 127.0.0.1:0)
env: DOWNSTREAM_URL (default http://127.0.0.1:8081), GRPC_ADDR (default http://127.0.0.1:50051)";
const MAX_BODY: usize = 8 * 1024 * 1024;
const BIG: usize = 1024 * 1024;

#[derive(Clone)]
struct AppState {
    http: reqwest::Client,      // one client (connection pool) for the whole app
    grpc: UsersClient<Channel>, // one lazily connected channel for the whole app
    downstream: Arc<str>,
    orders: Arc<AtomicU64>,
    big: Bytes,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    cli::exit_on_signal();

    let downstream = std::env::var("DOWNSTREAM_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    let grpc_addr = std::env::var("GRPC_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let channel = Endpoint::from_shared(grpc_addr.clone())
        .unwrap_or_else(|e| cli::die(USAGE, &format!("GRPC_ADDR {grpc_addr:?}: {e}")))
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let grpc = UsersClient::new(channel)
        .max_decoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(demo_proto::MAX_MESSAGE_SIZE);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client");
    let state = AppState {
        http,
        grpc,
        downstream: downstream.trim_end_matches('/').into(),
        orders: Arc::new(AtomicU64::new(0)),
        big: Bytes::from((0..BIG).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>()),
    };

    let api_v1 = Router::new()
        .route("/items/:id", get(get_item))
        .route("/orders", post(create_order));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/users/:id", get(routes::get_user))
        .route("/echo", post(routes::echo))
        .route("/slow", get(slow))
        .route("/status/:code", get(routes::status))
        .route("/chunked", get(chunked))
        .route("/big", get(big))
        .route("/call/http/:rid", get(call_http))
        .route("/call/grpc/:rid", get(call_grpc))
        .nest("/api/v1", api_v1)
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "no such route"}))) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    axum::serve(listener, app).await.expect("serve");
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_millis(50)).await;
    "slow"
}

async fn chunked() -> Response {
    // no content-length: hyper sends Transfer-Encoding: chunked, one chunk per stream item
    let stream = futures::stream::unfold(0u32, |i| async move {
        if i >= 5 {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i}\n"))), i + 1))
    });
    ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(stream)).into_response()
}

async fn big(State(st): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], st.big.clone()).into_response()
}

async fn get_item(Path(id): Path<String>) -> Response {
    Json(json!({"id": id, "item": format!("item-{id}")})).into_response()
}

async fn create_order(State(st): State<AppState>, body: Bytes) -> Response {
    let order_id = st.orders.fetch_add(1, Ordering::Relaxed) + 1;
    (StatusCode::CREATED, Json(json!({"order_id": order_id, "bytes": body.len()}))).into_response()
}

async fn call_http(State(st): State<AppState>, Path(rid): Path<String>) -> Response {
    let url = format!("{}/users/{}", st.downstream, rid);
    let res = match st.http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(json!({"error": e.to_string(), "url": url})),
    };
    let code = res.status().as_u16();
    match res.bytes().await {
        Ok(b) => Json(json!({"downstream_status": code, "body_len": b.len()})).into_response(),
        Err(e) => bad_gateway(json!({"error": e.to_string(), "url": url, "downstream_status": code})),
    }
}

async fn call_grpc(State(st): State<AppState>, Path(rid): Path<String>) -> Response {
    let mut client = st.grpc.clone(); // cheap: shares the one channel
    match client.get_user(GetUserRequest { id: rid }).await {
        Ok(r) => {
            let u = r.into_inner();
            Json(json!({"id": u.id, "name": u.name, "payload_len": u.payload.len()})).into_response()
        }
        Err(s) => bad_gateway(json!({"error": s.message(), "grpc_code": s.code() as i32})),
    }
}

fn bad_gateway(v: serde_json::Value) -> Response {
    (StatusCode::BAD_GATEWAY, Json(v)).into_response()
}
