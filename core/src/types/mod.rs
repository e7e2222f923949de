//! Data structures and algorithms, pure: no keys, clients, protocol or threads.

pub mod bitfield;
pub mod bits;
pub mod blob;
pub mod dense;
pub mod glob;
pub mod hash;
pub mod histogram;
/// LATENCY monitor event histories, LATENCY GRAPH and LATENCY DOCTOR.
pub mod latency;
pub mod lazyfree;
pub mod lcs;
pub mod list;
pub mod longdouble;
pub mod numfmt;
pub mod ostree;
pub mod set;
pub mod sha256;
pub mod slowlog;
pub mod zset;
