//! Generated code for `demo.v1` (proto/demo.proto): `users_server::{Users, UsersServer}`,
//! `users_client::UsersClient` and the message types.
pub mod demo {
    pub mod v1 {
        tonic::include_proto!("demo.v1");
    }
}
pub use demo::v1::*;

/// Max gRPC message size (both directions, server and client): 16 MiB.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
