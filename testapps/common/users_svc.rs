//! The demo.v1.Users service (proto/demo.proto) the tonic servers serve, plaintext and TLS:
//!   GetUser:   id "notfound" or "0" -> NOT_FOUND, "fail" -> INTERNAL, otherwise OK
//!   ListUsers: server streaming, `count` users (capped at 1,000,000)
//!   Echo:      echoes the payload (max message size 16 MiB both ways)
use std::pin::Pin;

use demo_proto::users_server::{Users, UsersServer};
use demo_proto::{EchoReply, EchoRequest, GetUserRequest, ListUsersRequest, User};
use futures::Stream;
use tonic::{Request, Response, Status};

#[derive(Default)]
pub struct UsersSvc;

fn user(id: String) -> User {
    User { name: format!("user-{id}"), payload: vec![0xab; 32], id }
}

#[tonic::async_trait]
impl Users for UsersSvc {
    async fn get_user(&self, req: Request<GetUserRequest>) -> Result<Response<User>, Status> {
        let id = req.into_inner().id;
        match id.as_str() {
            "notfound" | "0" => Err(Status::not_found(format!("user {id} not found"))),
            "fail" => Err(Status::internal("simulated internal error")),
            _ => Ok(Response::new(user(id))),
        }
    }

    type ListUsersStream = Pin<Box<dyn Stream<Item = Result<User, Status>> + Send + 'static>>;

    async fn list_users(&self, req: Request<ListUsersRequest>) -> Result<Response<Self::ListUsersStream>, Status> {
        let count = req.into_inner().count.min(1_000_000);
        let stream = tokio_stream::iter((0..count).map(|i| Ok(user(i.to_string()))));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn echo(&self, req: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        Ok(Response::new(EchoReply { payload: req.into_inner().payload }))
    }
}

/// The service with the demo's message size limits.
pub fn service() -> UsersServer<UsersSvc> {
    UsersServer::new(UsersSvc)
        .max_decoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
}
