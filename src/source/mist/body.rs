//! Response bodies read into a per-thread buffer that is zeroed once, not once a response.
//!
//! `Read::read_to_end` zeroes the spare capacity it reads into on every call, since a reader
//! that is not `read_buf`-aware may look at it; for an org-stats run (210 pages of up to
//! 3.4 MB) that was a twentieth of the run's instructions. A [`Body`] keeps the length of
//! its buffer that has been written once and reads the next response over it.

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::ops::Deref;

/// Bodies above this are not kept for reuse: memory follows the usual page, not the largest.
const MAX_SPARE: usize = 8 << 20;

/// Bytes added to a buffer at least when it is full: one read of a socket's worth.
const MIN_GROWTH: usize = 64 << 10;

thread_local! {
    /// The buffer of this thread's last body, for its next response. Allocating one per
    /// request, among the many small frees of parsing, made glibc consolidate its free lists
    /// on every request.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A response body: the first `len` bytes of `buf`, all of whose bytes are initialised.
#[derive(Debug)]
pub struct Body {
    buf: Vec<u8>,
    len: usize,
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Body {
    /// Reads `reader` to its end, or to `limit` bytes, whichever comes first, into this
    /// thread's spare buffer. `expected` (a `Content-Length`) sizes the buffer up front.
    pub fn read(reader: &mut impl Read, expected: usize, limit: usize) -> std::io::Result<Body> {
        let mut buf = SPARE.take();
        // One byte past the announced length, so its end is seen without growing; but no
        // more than a usual page on a server's word alone: past that the buffer grows as
        // bytes come, so a lying `Content-Length` costs no memory.
        let first = expected
            .saturating_add(1)
            .clamp(MIN_GROWTH, MAX_SPARE)
            .min(limit);
        if buf.len() < first {
            buf.resize(first, 0);
        }
        let mut len = 0;
        loop {
            if len == buf.len() {
                if len >= limit {
                    break;
                }
                let grown = len.saturating_add(len.max(MIN_GROWTH)).min(limit);
                buf.resize(grown, 0);
            }
            let end = buf.len().min(limit);
            match reader.read(&mut buf[len..end]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    Body { buf, len: 0 }.recycle();
                    return Err(e);
                }
            }
            if len >= limit {
                break;
            }
        }
        Ok(Body { buf, len })
    }

    /// Gives the buffer back for this thread's next response.
    pub fn recycle(self) {
        if self.buf.capacity() <= MAX_SPARE {
            SPARE.set(self.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes a few at a time, as a socket does.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn reads_to_the_end_whatever_the_announced_length_and_reuses_the_buffer() {
        let long: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for (data, expected) in [
            (&long[..], 0),
            (&long[..], long.len()),
            (&long[..], 10),
            (&long[..], 10_000_000),
            (&b"[]"[..], 2),
            (&b""[..], 0),
        ] {
            let body = Body::read(&mut Trickle(data, 7_000), expected, usize::MAX).unwrap();
            assert_eq!(&*body, data);
            body.recycle();
        }
        // The next, shorter body does not show the longer one's tail.
        let body = Body::read(&mut Trickle(b"{}", 1), 0, usize::MAX).unwrap();
        assert_eq!(&*body, b"{}");
    }

    #[test]
    fn a_lying_length_costs_no_memory_beyond_a_usual_page() {
        let body = Body::read(&mut Trickle(b"[]", 2), usize::MAX / 2, usize::MAX).unwrap();
        assert_eq!(&*body, b"[]");
        assert!(body.buf.len() <= MAX_SPARE, "{}", body.buf.len());
    }

    #[test]
    fn stops_at_the_limit() {
        let data = vec![b'x'; 200_000];
        let body = Body::read(&mut Trickle(&data, 65_536), 0, 100_001).unwrap();
        assert_eq!(body.len(), 100_001);
        let body = Body::read(&mut Trickle(&data, 65_536), 200_000, 10).unwrap();
        assert_eq!(body.len(), 10);
    }
}
