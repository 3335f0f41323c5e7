//! An incremental decoder for HTTP/1.1 chunked transfer coding, for event
//! streams read straight off a socket. It keeps a few integers of state and
//! hands chunk data on without copying, however the bytes are split.

use anyhow::bail;

/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a chunk-size line: hex digits, then an optional extension.
    Size { value: u64, digits: u32, ext: bool, len: usize },
    /// Inside a chunk, with this many bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last (empty) chunk: trailer lines until an empty one.
    Trailer { len: usize },
    /// The body is complete.
    Done,
}

/// Decodes a chunked body.
#[derive(Debug)]
pub struct Dechunker {
    state: State,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self { state: State::Size { value: 0, digits: 0, ext: false, len: 0 } }
    }
}

impl Dechunker {
    /// Whether the final chunk and trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, passing every run of body bytes to `sink`. Bytes
    /// after the end of the body are ignored.
    pub fn feed(&mut self, mut input: &[u8], mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>) -> anyhow::Result<()> {
        while let Some((&b, rest)) = input.split_first() {
            match &mut self.state {
                State::Data(left) => {
                    let n = (*left).min(input.len() as u64) as usize;
                    sink(&input[..n])?;
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::DataEnd;
                    }
                    input = &input[n..];
                    continue;
                }
                State::Size { value, digits, ext, len } => {
                    *len += 1;
                    if *len > MAX_LINE {
                        bail!("a chunk-size line is longer than {MAX_LINE} bytes");
                    }
                    match b {
                        b'\n' => {
                            if *digits == 0 {
                                bail!("a chunk-size line has no size");
                            }
                            self.state = if *value == 0 { State::Trailer { len: 0 } } else { State::Data(*value) };
                        }
                        b'\r' => {}
                        _ if *ext => {}
                        b';' | b' ' | b'\t' => *ext = true,
                        _ => {
                            let Some(d) = (b as char).to_digit(16) else { bail!("bad byte {b:#04x} in a chunk size") };
                            *digits += 1;
                            if *digits > 15 {
                                bail!("a chunk size is too large");
                            }
                            *value = *value * 16 + u64::from(d);
                        }
                    }
                }
                State::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => self.state = Self::default().state,
                    _ => bail!("a chunk is longer than its size"),
                },
                State::Trailer { len } => match b {
                    b'\r' => {}
                    b'\n' if *len == 0 => self.state = State::Done,
                    b'\n' => *len = 0,
                    _ => {
                        *len += 1;
                        if *len > MAX_LINE {
                            bail!("a trailer line is longer than {MAX_LINE} bytes");
                        }
                    }
                },
                State::Done => return Ok(()),
            }
            input = rest;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = Dechunker::default();
        let mut out = Vec::new();
        for p in parts {
            d.feed(p, |b| {
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        }
        (out, d.is_done())
    }

    #[test]
    fn decodes_any_split() {
        let body: &[u8] = b"7\r\nretry: \r\nA;ext=1\r\n3000\n\n: ka\r\n0\r\nX-T: 1\r\n\r\nignored";
        let (whole, done) = decode(&[body]);
        assert_eq!(whole, b"retry: 3000\n\n: ka");
        assert!(done);
        for split in 1..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(decode(&[a, b]), (whole.clone(), true), "split at {split}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(&bytes), (whole, true));
    }

    #[test]
    fn an_open_body_is_not_done_and_garbage_is_refused() {
        assert_eq!(decode(&[b"3\r\nabc\r\n"]), (b"abc".to_vec(), false));
        let mut d = Dechunker::default();
        assert!(d.feed(b"zz\r\n", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"1\r\nab\r\n", |_| Ok(())).is_err());
        let mut d = Dechunker::default();
        assert!(d.feed(b"\r\n", |_| Ok(())).is_err());
    }
}
