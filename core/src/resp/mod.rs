//! The wire format, pure: the request parser, the reply renderer and a reply parser.

pub mod frame;
pub mod parse;
pub mod reply;
pub mod split;

pub use frame::{BulkArray, Frame};
