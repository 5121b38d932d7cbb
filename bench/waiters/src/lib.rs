//! What `waitbench` and `waitfloor` share: reading one HTTP/1.1 message off a connection.

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Where one HTTP/1.1 message lies in the buffer it was read into.
pub struct Message {
    /// The request or status line.
    pub first_line: String,
    /// Its `Content-Length`, when it has one (the body is then that long; else empty).
    pub content_length: Option<usize>,
    pub body_start: usize,
    /// Just past its body: any bytes after it belong to the next message.
    pub end: usize,
}

/// Reads one message (its head, and its body by `Content-Length`) from `stream` into `buf`, which may already hold
/// its first bytes. `None` when the peer closed before sending any more.
pub async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Option<Message>> {
    loop {
        if let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..head_end]).context("message head is not UTF-8")?;
            let mut lines = head.split("\r\n");
            let first_line = lines.next().unwrap_or_default().to_owned();
            let content_length = lines
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse().ok());
            let body_start = head_end + 4;
            let end = body_start + content_length.unwrap_or(0);
            while buf.len() < end {
                if stream.read_buf(buf).await? == 0 {
                    bail!("the peer closed the connection mid-message");
                }
            }
            return Ok(Some(Message { first_line, content_length, body_start, end }));
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}
