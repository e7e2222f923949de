//! The wire format, pure: the request parser and the reply renderer.

pub mod frame;
pub mod parse;

pub use frame::Frame;
