//! tonic 0.12 gRPC server, service demo.v1.Users (proto/demo.proto):
//!   GetUser:   id "notfound" or "0" -> NOT_FOUND, "fail" -> INTERNAL, otherwise OK
//!   ListUsers: server streaming, `count` users (capped at 1,000,000)
//!   Echo:      echoes the payload (max message size 16 MiB both ways)
#[path = "../../common/cli.rs"]
mod cli;

use std::pin::Pin;

use demo_proto::users_server::{Users, UsersServer};
use demo_proto::{EchoReply, EchoRequest, GetUserRequest, ListUsersRequest, User};
use futures::Stream;
use tonic::{Request, Response, Status};

const USAGE: &str = "usage: tonic-server [--listen ADDR]   (default 127.0.0.1:0)";

#[derive(Default)]
struct UsersSvc;

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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = cli::Args::parse(&[], USAGE);
    let listen = args.get_or("listen", "127.0.0.1:0");
    cli::exit_on_signal();

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| cli::die(USAGE, &format!("bind {listen}: {e}")));
    cli::print_listening(listener.local_addr().expect("local_addr"));
    let svc = UsersServer::new(UsersSvc)
        .max_decoding_message_size(demo_proto::MAX_MESSAGE_SIZE)
        .max_encoding_message_size(demo_proto::MAX_MESSAGE_SIZE);
    tonic::transport::Server::builder()
        .add_service(svc)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serve");
}
