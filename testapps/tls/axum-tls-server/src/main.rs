//! axum 0.7 over TLS: rustls 0.23 through tokio-rustls 0.26, HTTP/1.1 or HTTP/2 as ALPN chooses
//! (hyper-util's auto connection builder). The routes are the plaintext axum-server's, in part:
//!   GET  /health              "ok"
//!   GET  /users/:id           {"id","name"}; id "0" -> 404 {"error"}
//!   POST /echo                echoes the request body (up to 8 MiB)
//!   GET  /status/:code        responds with that status code (200..=599)
//!   GET  /call/https/:rid     reqwest (rustls) GET $DOWNSTREAM_URL/users/:rid -> 200 {"downstream_status","body_len"} | 502
//!   GET  /call/grpcs/:rid     tonic (TLS) GetUser{id: rid} at $GRPC_ADDR -> 200 {"id","name"} | 502
//! With --plain ADDR it also serves the same routes in plaintext on ADDR (a process that serves
//! both at once), printing a second line `plain listening on <ip>:<port>`.
#[path = "../../../common/cli.rs"]
mod cli;
#[path = "../../../common/axum_routes.rs"]
mod routes;

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use demo_proto::users_client::UsersClient;
use demo_proto::GetUserRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const USAGE: &str = "usage: axum-tls-server --cert PEM --key PEM [--listen ADDR] [--plain ADDR]
  --cert, --key   the server's certificate chain and private key (PEM)
  --listen ADDR   TLS address (default 127.0.0.1:0)
  --plain ADDR    also serve plaintext HTTP there
env: DOWNSTREAM_URL (https://..., default https://127.0.0.1:8443), GRPC_ADDR (https://..., default
     https://127.0.0.1:50051, named localhost), TLS_CA (PEM: the CA the downstreams' certificates
     chain to)";
const MAX_BODY: usize = 8 * 1024 * 1024;

#[derive(Clone)]
struct AppState {
    http: reqwest::Client, // one client (connection pool) for the whole app
    grpc: UsersClient<Channel>, // one lazily connected channel for the whole app
    downstream: Arc<str>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    let cert = args.get("cert").unwrap_or_else(|| cli::die(USAGE, "--cert is required"));
    let key = args.get("key").unwrap_or_else(|| cli::die(USAGE, "--key is required"));
    cli::exit_on_signal();

    let downstream = std::env::var("DOWNSTREAM_URL").unwrap_or_else(|_| "https://127.0.0.1:8443".into());
    let grpc_addr = std::env::var("GRPC_ADDR").unwrap_or_else(|_| "https://127.0.0.1:50051".into());
    let mut http = reqwest::Client::builder().use_rustls_tls().timeout(Duration::from_secs(10));
    let mut grpc_tls = ClientTlsConfig::new().domain_name("localhost");
    if let Ok(ca) = std::env::var("TLS_CA") {
        let pem = std::fs::read(&ca).unwrap_or_else(|e| cli::die(USAGE, &format!("TLS_CA {ca}: {e}")));
        grpc_tls = grpc_tls.ca_certificate(Certificate::from_pem(&pem));
        let ca = reqwest::Certificate::from_pem(&pem).unwrap_or_else(|e| cli::die(USAGE, &format!("TLS_CA {ca}: {e}")));
        http = http.add_root_certificate(ca);
    }
    let channel = Endpoint::from_shared(grpc_addr.clone())
        .unwrap_or_else(|e| cli::die(USAGE, &format!("GRPC_ADDR {grpc_addr:?}: {e}")))
        .tls_config(grpc_tls)
        .unwrap_or_else(|e| cli::die(USAGE, &format!("GRPC_ADDR {grpc_addr:?}: {e}")))
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let grpc = UsersClient::new(channel)
        .max_decoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(demo_proto::MAX_MESSAGE_SIZE);
    let state = AppState { http: http.build().expect("reqwest client"), grpc, downstream: downstream.trim_end_matches('/').into() };
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/users/:id", get(routes::get_user))
        .route("/echo", post(routes::echo))
        .route("/status/:code", get(routes::status))
        .route("/call/https/:rid", get(call_https))
        .route("/call/grpcs/:rid", get(call_grpcs))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "no such route"}))) })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state);

    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(read_certs(&cert), read_key(&key))
        .unwrap_or_else(|e| cli::die(USAGE, &format!("--cert/--key: {e}")));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    if let Some(plain) = args.get("plain") {
        let pl = tokio::net::TcpListener::bind(&plain)
            .await
            .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {plain}: {e}")));
        println!("plain listening on {}", pl.local_addr().expect("local_addr"));
        let app = app.clone();
        tokio::spawn(async move { axum::serve(pl, app).await.expect("serve plain") });
    }
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // A client that fails the handshake or sends garbage just loses its connection.
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                .await;
        });
    }
}

fn read_certs(path: &str) -> Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>> {
    let f = File::open(path).unwrap_or_else(|e| cli::die(USAGE, &format!("--cert {path}: {e}")));
    rustls_pemfile::certs(&mut BufReader::new(f))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| cli::die(USAGE, &format!("--cert {path}: {e}")))
}

fn read_key(path: &str) -> tokio_rustls::rustls::pki_types::PrivateKeyDer<'static> {
    let f = File::open(path).unwrap_or_else(|e| cli::die(USAGE, &format!("--key {path}: {e}")));
    rustls_pemfile::private_key(&mut BufReader::new(f))
        .unwrap_or_else(|e| cli::die(USAGE, &format!("--key {path}: {e}")))
        .unwrap_or_else(|| cli::die(USAGE, &format!("--key {path}: no private key")))
}

async fn call_https(State(st): State<AppState>, Path(rid): Path<String>) -> Response {
    let url = format!("{}/users/{}", st.downstream, rid);
    let res = match st.http.get(&url).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, Json(json!({"error": e.to_string(), "url": url}))).into_response(),
    };
    let code = res.status().as_u16();
    match res.bytes().await {
        Ok(b) => Json(json!({"downstream_status": code, "body_len": b.len()})).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e.to_string(), "url": url, "downstream_status": code}))).into_response(),
    }
}

async fn call_grpcs(State(st): State<AppState>, Path(rid): Path<String>) -> Response {
    let mut client = st.grpc.clone(); // cheap: shares the one channel
    match client.get_user(GetUserRequest { id: rid }).await {
        Ok(r) => {
            let u = r.into_inner();
            Json(json!({"id": u.id, "name": u.name, "payload_len": u.payload.len()})).into_response()
        }
        Err(s) => (StatusCode::BAD_GATEWAY, Json(json!({"error": s.message(), "grpc_code": s.code() as i32}))).into_response(),
    }
}
