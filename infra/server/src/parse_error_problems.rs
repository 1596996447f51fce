//! Problem documents for the requests hyper refuses before the API sees them.
//!
//! A request line or header hyper cannot parse (a control character in a value, a bad name,
//! a head over the size limit) is answered by hyper itself with a bare `400`, `414` or `431`
//! and no body, and the connection is closed; hyper has no hook to change that answer
//! (hyperium/hyper#3844). [`ProblemOnParseError`] wraps the connection's socket and replaces
//! that one response, as it is written, with the same status and an RFC 9457 problem
//! document, so every error the server gives is in the contract.
//!
//! It recognises hyper's answer by its shape: a `4xx` head with `content-length: 0` and no
//! `content-type`. Every `4xx` the API itself sends is a problem document with a content
//! type, so nothing else matches.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use accepted_core::{ApiError, CorrelationId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connections::MAX_HEAD_BYTES;

/// A socket whose writes pass through unchanged, except hyper's answer to a parse error.
pub struct ProblemOnParseError<S> {
    inner: S,
    /// The replacement being written, and how much of it is out.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<S> ProblemOnParseError<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

/// The problem response for hyper's automatic answer `head`, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let headers: Vec<&str> = lines.collect();
    let has = |name: &str| {
        headers.iter().any(|line| {
            line.split_once(':')
                .is_some_and(|(n, _)| n.eq_ignore_ascii_case(name))
        })
    };
    let empty = headers.iter().any(|line| {
        line.split_once(':')
            .is_some_and(|(n, v)| n.eq_ignore_ascii_case("content-length") && v.trim() == "0")
    });
    if !empty || has("content-type") {
        return None;
    }
    let err = match status {
        400 => ApiError::MalformedRequest(
            "a header name or value with a character HTTP does not allow, or a bad request line",
        ),
        414 => ApiError::UriTooLong,
        431 => ApiError::HeadersTooLarge {
            limit: MAX_HEAD_BYTES,
        },
        _ => return None,
    };
    let correlation_id = CorrelationId::generate();
    let body = serde_json::to_vec(&err.to_problem(None, &correlation_id)).ok()?;
    let mut out = format!("{status_line}\r\n");
    for line in headers.iter().filter(|line| {
        !line
            .split_once(':')
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    }) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-type: {}\r\ncontent-length: {}\r\nx-correlation-id: {}\r\nconnection: close\r\n\r\n",
        accepted_core::problem::CONTENT_TYPE,
        body.len(),
        correlation_id.as_str()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

impl<S: AsyncWrite + Unpin> ProblemOnParseError<S> {
    /// Writes `buf`, or its replacement; `Ready(n)` only once the replacement is all out.
    fn write_or_replace(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        if self.replacing.is_none() && buf.starts_with(b"HTTP/1.1 4") {
            self.replacing = replacement(buf).map(|r| (r, 0));
        }
        let (bytes, written) = self.replacing.as_mut()?;
        while *written < bytes.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    return Some(Poll::Ready(Err(io::ErrorKind::WriteZero.into())))
                }
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Some(Poll::Ready(Err(e))),
                Poll::Pending => return Some(Poll::Pending),
            }
        }
        self.replacing = None;
        Some(Poll::Ready(Ok(buf.len())))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemOnParseError<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemOnParseError<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(done) = this.write_or_replace(cx, buf) {
            return done;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // hyper's automatic answer is a head alone, in the first slice.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(done) = this.write_or_replace(cx, first) {
                return done;
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_answer_becomes_a_problem_document() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 21:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(bare).expect("replaced")).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\ndate: Wed, 02 Dec 2026 21:00:00 GMT"));
        assert!(head.contains("\r\ncontent-type: application/problem+json"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        assert!(!head.contains("content-length: 0"));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["type"], "/problems/malformed-request");
        assert_eq!(problem["status"], 400);
    }

    #[test]
    fn too_large_heads_and_uris_keep_their_status() {
        for (status, slug) in [(431, "headers-too-large"), (414, "uri-too-long")] {
            let bare = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            let out = String::from_utf8(replacement(bare.as_bytes()).unwrap()).unwrap();
            assert!(out.starts_with(&format!("HTTP/1.1 {status} X\r\n")));
            assert!(out.contains(&format!("/problems/{slug}")));
        }
    }

    #[test]
    fn the_apis_own_answers_pass_unchanged() {
        for head in [
            &b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert!(replacement(head).is_none(), "{}", String::from_utf8_lossy(head));
        }
    }
}
