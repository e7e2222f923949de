//! Connections: the loop that reads requests and writes replies, and the dispatcher between.

pub mod clients;
pub mod conn;
pub mod dispatch;
pub mod session;
