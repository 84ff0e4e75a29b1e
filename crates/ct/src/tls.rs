//! The handful of TLS presentation-language (RFC 5246 §4) primitives RFC 6962 uses:
//! big-endian fixed-width integers and length-prefixed opaque vectors.
//!
//! The reader is strict: every read is bounds-checked and callers finish with
//! [`Reader::finish`], so trailing bytes are an error rather than silently ignored.

use crate::CtError;

/// Largest value a `uint16` length prefix can carry.
pub(crate) const MAX_U16: usize = 0xFFFF;
/// Largest value a `uint24` length prefix can carry.
pub(crate) const MAX_U24: usize = 0xFF_FFFF;

/// Appends TLS-encoded values to a byte buffer.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Fixed-length opaque bytes (`opaque x[n]`), no prefix.
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// `opaque x<0..2^16-1>`.
    pub(crate) fn vec16(&mut self, what: &'static str, v: &[u8]) -> Result<&mut Self, CtError> {
        let len = u16::try_from(v.len()).map_err(|_| too_long(what, v.len(), MAX_U16))?;
        self.u16(len);
        Ok(self.bytes(v))
    }

    /// `opaque x<0..2^24-1>`.
    pub(crate) fn vec24(&mut self, what: &'static str, v: &[u8]) -> Result<&mut Self, CtError> {
        if v.len() > MAX_U24 {
            return Err(too_long(what, v.len(), MAX_U24));
        }
        let len = u32::try_from(v.len()).map_err(|_| too_long(what, v.len(), MAX_U24))?;
        self.buf.extend_from_slice(&len.to_be_bytes()[1..]);
        Ok(self.bytes(v))
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

fn too_long(what: &'static str, len: usize, max: usize) -> CtError {
    CtError::TooLong { what, len, max }
}

/// Reads TLS-encoded values from untrusted bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(unverified: &'a [u8]) -> Self {
        Self { rest: unverified }
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], CtError> {
        if self.rest.len() < n {
            return Err(CtError::Truncated(what));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CtError> {
        Ok(self.take(what, 1)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, CtError> {
        let b = self.take(what, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<usize, CtError> {
        let b = self.take(what, 3)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, CtError> {
        let b = self.take(what, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn array32(&mut self, what: &'static str) -> Result<[u8; 32], CtError> {
        let b = self.take(what, 32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// `opaque x<0..2^16-1>`.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], CtError> {
        let n = usize::from(self.u16(what)?);
        self.take(what, n)
    }

    /// `opaque x<0..2^24-1>`.
    pub(crate) fn vec24(&mut self, what: &'static str) -> Result<&'a [u8], CtError> {
        let n = self.u24(what)?;
        self.take(what, n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Succeed only if every byte was consumed.
    pub(crate) fn finish(self, what: &'static str) -> Result<(), CtError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CtError::TrailingData(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_with_big_endian_prefixes() {
        let mut w = Writer::new();
        w.u8(7).u16(0x0102).u64(0x0A0B_0C0D_0E0F_1011);
        w.vec16("a", b"xy").expect("fits");
        w.vec24("b", b"z").expect("fits");
        let bytes = w.into_bytes();
        assert_eq!(
            bytes,
            [
                7, 1, 2, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0, 2, b'x', b'y', 0, 0, 1,
                b'z'
            ]
        );
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("u8").expect("u8"), 7);
        assert_eq!(r.u16("u16").expect("u16"), 0x0102);
        assert_eq!(r.u64("u64").expect("u64"), 0x0A0B_0C0D_0E0F_1011);
        assert_eq!(r.vec16("a").expect("a"), b"xy");
        assert_eq!(r.vec24("b").expect("b"), b"z");
        r.finish("all").expect("consumed");
    }

    #[test]
    fn reader_rejects_short_and_trailing_input() {
        assert!(matches!(
            Reader::new(&[0, 5, 1]).vec16("v"),
            Err(CtError::Truncated("v"))
        ));
        let mut r = Reader::new(&[1, 2]);
        r.u8("x").expect("one byte");
        assert!(matches!(r.finish("s"), Err(CtError::TrailingData("s"))));
    }

    #[test]
    fn writer_rejects_oversized_vectors() {
        let big = vec![0u8; MAX_U16 + 1];
        assert!(matches!(
            Writer::new().vec16("ext", &big),
            Err(CtError::TooLong { .. })
        ));
    }
}
