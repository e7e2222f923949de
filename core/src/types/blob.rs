//! Compact byte strings for keys and short values.
//!
//! Most keys and many values are short, and a `Vec<u8>` or `Bytes` costs a 24–32 byte header
//! plus a separate heap allocation. A `Blob` is 24 bytes and keeps up to 22 bytes inline, the
//! same idea as Redis's embedded strings; longer contents live in one exact-size heap block.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

const INLINE: usize = 22;

#[derive(Clone)]
pub enum Blob {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Blob {
    pub fn new(bytes: &[u8]) -> Blob {
        if bytes.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Blob::Inline {
                len: bytes.len() as u8,
                buf,
            }
        } else {
            Blob::Heap(bytes.into())
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Blob::Inline { len, buf } => &buf[..*len as usize],
            Blob::Heap(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned beyond the 24-byte handle, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Blob::Inline { .. } => 0,
            Blob::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for Blob {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and Eq must agree with `[u8]`'s so that maps keyed by `Blob` can be queried with `&[u8]`.
impl Hash for Blob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Blob {}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Blob {
    fn from(b: &[u8]) -> Blob {
        Blob::new(b)
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(std::mem::size_of::<Blob>(), 24);
    }

    #[test]
    fn round_trips_both_forms() {
        for n in [0, 1, 22, 23, 100] {
            let data: Vec<u8> = (0..n as u8).collect();
            let b = Blob::new(&data);
            assert_eq!(b.as_bytes(), &data[..]);
            assert_eq!(b.heap_size() > 0, n > INLINE);
        }
    }
}
