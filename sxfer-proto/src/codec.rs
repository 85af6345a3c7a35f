//! The one hand-written wire codec (PROTOCOL.md §3).
//!
//! Integers are big-endian. Variable-length fields carry a length prefix of
//! 1, 2 or 4 bytes; every field has a maximum that is checked *before*
//! anything is allocated. Decoding a message must consume every byte:
//! trailing bytes are an error, as are unknown codes.

use crate::error::{Error, Result};

/// A cursor over a borrowed slice. Reading past the end is `Malformed`.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The bytes consumed so far.
    pub fn consumed(&self) -> &'a [u8] {
        &self.buf[..self.pos]
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.remaining() < len {
            return Err(Error::Malformed("truncated field"));
        }
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// `opaque<0..max>` with a 1-byte length.
    pub fn bytes_u8(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(self.u8()?);
        self.bounded(len, max)
    }

    /// `opaque<0..max>` with a 2-byte length.
    pub fn bytes_u16(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = usize::from(self.u16()?);
        self.bounded(len, max)
    }

    /// `opaque<0..max>` with a 4-byte length.
    pub fn bytes_u32(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = usize::try_from(self.u32()?).map_err(|_| Error::Malformed("length"))?;
        self.bounded(len, max)
    }

    /// A UTF-8 string with a 1-byte length.
    pub fn str_u8(&mut self, max: usize) -> Result<&'a str> {
        std::str::from_utf8(self.bytes_u8(max)?).map_err(|_| Error::Malformed("string is not UTF-8"))
    }

    /// A UTF-8 string with a 2-byte length.
    pub fn str_u16(&mut self, max: usize) -> Result<&'a str> {
        std::str::from_utf8(self.bytes_u16(max)?).map_err(|_| Error::Malformed("string is not UTF-8"))
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    /// Trailing bytes after a complete message are an error.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::Malformed("trailing bytes"));
        }
        Ok(())
    }

    fn bounded(&mut self, len: usize, max: usize) -> Result<&'a [u8]> {
        if len > max {
            return Err(Error::Malformed("field longer than its maximum"));
        }
        self.take(len)
    }
}

/// Appending encoders for the same field shapes `Reader` decodes.
pub trait Writer {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_bytes_u8(&mut self, v: &[u8]);
    fn put_bytes_u16(&mut self, v: &[u8]);
    fn put_bytes_u32(&mut self, v: &[u8]);
}

impl Writer for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    // Callers hold the invariant len <= max (types enforce the maxima, which
    // all fit their prefix); the `as` casts below cannot truncate then.
    fn put_bytes_u8(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= usize::from(u8::MAX));
        self.push(v.len() as u8);
        self.extend_from_slice(v);
    }
    fn put_bytes_u16(&mut self, v: &[u8]) {
        debug_assert!(v.len() <= usize::from(u16::MAX));
        self.put_u16(v.len() as u16);
        self.extend_from_slice(v);
    }
    fn put_bytes_u32(&mut self, v: &[u8]) {
        debug_assert!(u32::try_from(v.len()).is_ok());
        self.put_u32(v.len() as u32);
        self.extend_from_slice(v);
    }
}

/// `text` cut to at most `max` bytes on a character boundary, for
/// free-form strings (error messages) whose maximum the sender must honour.
pub fn bounded_str(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A wire type: encodes itself and reads itself back, nothing left over.
pub trait Codec: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn read(reader: &mut Reader<'_>) -> Result<Self>;

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decode a complete message: trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut reader = Reader::new(bytes);
        let value = Self::read(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_before_reading() {
        let mut r = Reader::new(&[0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(r.bytes_u16(4), Err(Error::Malformed("field longer than its maximum")));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(r.bytes_u32(usize::MAX).is_err(), "4 GiB claimed, 0 present");
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u8(), Ok(1));
        assert!(r.finish().is_err());
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut r = Reader::new(&[2, 0xc3, 0x28]);
        assert!(r.str_u8(10).is_err());
    }
}
