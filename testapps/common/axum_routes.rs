//! Handlers both axum apps serve alike (axum-server, tls/axum-tls-server; included with `#[path]`).
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// GET /users/:id: {"id","name"}; id "0" -> 404 {"error"}.
pub async fn get_user(Path(id): Path<String>) -> Response {
    if id == "0" {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "user not found", "id": id}))).into_response();
    }
    Json(json!({"id": id, "name": format!("user-{id}")})).into_response()
}

/// POST /echo: the request body back.
pub async fn echo(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// GET /status/:code: that status (200..=599), 400 otherwise.
pub async fn status(Path(code): Path<String>) -> Response {
    match code.parse::<u16>().ok().filter(|c| (200..=599).contains(c)).and_then(|c| StatusCode::from_u16(c).ok()) {
        Some(s) if s == StatusCode::NO_CONTENT || s == StatusCode::NOT_MODIFIED => s.into_response(),
        Some(s) => (s, format!("status {}\n", s.as_u16())).into_response(),
        None => (StatusCode::BAD_REQUEST, format!("bad status code {code:?}\n")).into_response(),
    }
}
