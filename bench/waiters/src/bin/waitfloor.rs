//! `waitfloor`: the least a server can do for `waitbench`, to tell the gateway's cost from the machine's.
//!
//! ```text
//! usage: waitfloor <port>
//! ```
//!
//! It speaks just enough HTTP/1.1 for `waitbench`: `POST /api/requests` creates an id, `GET
//! /api/requests/:id/wait` holds the connection, `POST /api/requests/:id/decide` writes every held connection of
//! that id a canned answer (the same size and headers as the gateway's) back to back from one thread, then
//! answers the decide call; `GET /health` answers 200. No database, no authentication, no framework: with one
//! core and the client on loopback, the time from the decide call to the last waiter's answer is then about what
//! the kernel's TCP path costs per answer on this machine, the floor under any server's figure
//! (`bench/run.sh wait` runs both; BENCHMARKS.md, "Waiting for a decision").

use agentgate_waitbench::read_message;
use anyhow::{Context, anyhow, bail};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The held connections, by request id.
type Held = Arc<Mutex<HashMap<String, Vec<TcpStream>>>>;

fn main() -> anyhow::Result<()> {
    let port: u16 =
        std::env::args().nth(1).and_then(|port| port.parse().ok()).ok_or_else(|| anyhow!("usage: waitfloor <port>"))?;
    // One thread, as the gateway has when it is pinned to one core.
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(serve(port))
}

async fn serve(port: u16) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.with_context(|| format!("binding port {port}"))?;
    let held = Held::default();
    let mut ids = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        ids += 1;
        // Ids are unique per connection and request; the prefix keeps them apart.
        let prefix = format!("c{ids}");
        let held = held.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &prefix, &held).await {
                eprintln!("waitfloor: {e:#}");
            }
        });
    }
}

async fn connection(mut stream: TcpStream, prefix: &str, held: &Held) -> anyhow::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let mut created = 0u32;
    loop {
        let Some((method, path)) = read_request(&mut stream, &mut buf).await? else { return Ok(()) };
        match (method.as_str(), path.split('/').collect::<Vec<_>>().as_slice()) {
            ("GET", ["", "health"]) => respond(&mut stream, "200 OK", br#"{"status":"ok"}"#).await?,
            ("POST", ["", "api", "requests"]) => {
                created += 1;
                let body = format!(r#"{{"id":"{prefix}r{created}","status":"pending"}}"#);
                respond(&mut stream, "201 Created", body.as_bytes()).await?;
            }
            ("GET", ["", "api", "requests", id, wait]) if wait.starts_with("wait") => {
                let id = (*id).to_owned();
                let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
                held.entry(id).or_default().push(stream);
                return Ok(());
            }
            ("POST", ["", "api", "requests", id, "decide"]) => {
                let body = approved(id);
                let answer = response("200 OK", body.as_bytes());
                let waiters = held.lock().unwrap_or_else(|p| p.into_inner()).remove(*id).unwrap_or_default();
                for waiter in &waiters {
                    // As the gateway does: one non-blocking write each, back to back.
                    let written = match waiter.try_write(&answer) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                        Err(e) => return Err(e.into()),
                    };
                    if written < answer.len() {
                        bail!("a waiter's socket took {written} of {} bytes", answer.len());
                    }
                }
                stream.write_all(&answer).await?;
                // Kept open until the client closes them, as the gateway would.
                for mut waiter in waiters {
                    tokio::spawn(async move {
                        let mut rest = [0u8; 512];
                        while matches!(waiter.read(&mut rest).await, Ok(n) if n > 0) {}
                    });
                }
            }
            _ => respond(&mut stream, "404 Not Found", br#"{"error":"Not found"}"#).await?,
        }
    }
}

/// Reads one request; its method and path, or `None` when the client closed.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Option<(String, String)>> {
    let Some(message) = read_message(stream, buf).await? else { return Ok(None) };
    buf.drain(..message.end);
    let mut request_line = message.first_line.split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    Ok(Some((method, path)))
}

async fn respond(stream: &mut TcpStream, status: &str, body: &[u8]) -> anyhow::Result<()> {
    stream.write_all(&response(status, body)).await.map_err(Into::into)
}

/// A response with the gateway's headers (so the answers are the same size as its).
fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-xss-protection: 0\r\n\
         x-content-type-options: nosniff\r\nx-frame-options: DENY\r\nreferrer-policy: strict-origin-when-cross-origin\r\n\
         content-security-policy: default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'\r\n\
         x-request-id: 01M8CFR1612TJ6YY1QB52EHNB4\r\ncontent-length: {}\r\ndate: Thu, 26 Nov 2026 17:51:40 GMT\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A decided request as the gateway serialises it.
fn approved(id: &str) -> String {
    format!(
        r#"{{"id":"{id:<26}","action":"deploy","params":{{"version":"2.1.0"}},"context":{{}},"status":"approved","urgency":"normal","createdAt":"2026-11-26T17:51:39.024Z","updatedAt":"2026-11-26T17:51:40.202Z","decidedAt":"2026-11-26T17:51:40.202Z","decidedBy":"admin:env","decisionReason":null,"expiresAt":null}}"#
    )
}
