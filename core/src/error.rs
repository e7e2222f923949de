//! Every error a command can return, spelled once.
//!
//! Handlers return `Result<Frame, CmdError>`; the text a client sees is decided here and nowhere
//! else, so that the differential suite has one place to fix when a string differs from Redis.

use crate::resp::Frame;

#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    Syntax,
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    /// "increment or decrement would overflow"
    IncrOverflow,
    /// "increment would produce NaN or Infinity"
    NanOrInfinity,
    OutOfRange,
    NoSuchKey,
    /// "invalid expire time in 'set' command": carries the command name.
    InvalidExpire(String),
    DbIndexOutOfRange,
    /// Any other message, already in Redis's words, starting with its error code (`ERR ...`).
    Raw(String),
}

impl CmdError {
    /// `ERR <msg>`.
    pub fn err(msg: impl AsRef<str>) -> CmdError {
        CmdError::Raw(format!("ERR {}", msg.as_ref()))
    }

    pub fn message(&self) -> String {
        match self {
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Overflow => "ERR value is out of range".into(),
            CmdError::IncrOverflow => "ERR increment or decrement would overflow".into(),
            CmdError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            CmdError::OutOfRange => "ERR index out of range".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::InvalidExpire(cmd) => format!("ERR invalid expire time in '{}' command", cmd),
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            CmdError::Raw(s) => s.clone(),
        }
    }
}

impl From<CmdError> for Frame {
    fn from(e: CmdError) -> Frame {
        Frame::error(e.message())
    }
}

pub type CmdResult = Result<Frame, CmdError>;
