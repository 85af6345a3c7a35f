//! Finding frame boundaries in a stream of bytes.

use crate::error::{Error, Result};

pub const FRAME_HEADER_LEN: usize = 4;

/// If `buf` starts with a complete frame, its total length (header + body).
/// `Ok(None)` means "need more bytes". A declared body longer than
/// `max_body` is an error at once, before the caller buffers anything.
pub fn frame_len(buf: &[u8], max_body: usize) -> Result<Option<usize>> {
    let Some(header) = buf.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let body = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let body = usize::try_from(body).map_err(|_| Error::Malformed("frame length"))?;
    if body > max_body {
        return Err(Error::Malformed("frame longer than the maximum"));
    }
    let total = FRAME_HEADER_LEN + body;
    Ok((buf.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_complete_oversize() {
        assert_eq!(frame_len(&[0, 0], 10), Ok(None));
        assert_eq!(frame_len(&[0, 0, 0, 2, 9], 10), Ok(None));
        assert_eq!(frame_len(&[0, 0, 0, 2, 9, 9, 9], 10), Ok(Some(6)));
        assert!(frame_len(&[0xff, 0, 0, 0], 10).is_err());
    }
}
