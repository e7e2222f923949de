//! Connections: the loop that reads requests and writes replies, the dispatcher between, and the
//! io_uring transport under them.

pub mod conn;
pub mod dispatch;
