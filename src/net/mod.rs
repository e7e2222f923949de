//! Connections: the loop that reads requests and writes replies, the dispatcher between, and the
//! io_uring transport under them.

pub mod clients;
pub mod conn;
pub mod dispatch;
pub mod session;
pub mod uring;
