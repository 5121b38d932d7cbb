//! `waitbench`: the time from a decide call to the responses of N long-polling waiters, and the gateway's memory
//! per waiting client (`bench/run.sh wait` and `xwait`; the figures in BENCHMARKS.md).
//!
//! ```text
//! usage: waitbench <port> <waiters> <server pid> [decide port]      (AGENTGATE_API_KEY in the environment)
//! ```
//!
//! After a warm-up (a decision with one waiter), creates a request, opens `<waiters>` connections that each send
//! `GET /api/requests/:id/wait?timeout=60`, reads the server's RSS (`/proc/<pid>/status`) before and after they
//! connect, then decides the request and records, for each waiter, the time from just before the decide call to
//! the first bytes of its response. With a decide port (another replica on the same database), the request is
//! created and decided there while the waiters wait on `<port>`: the time a decision takes to cross replicas.
//!
//! The client's own work stays out of the measured path as far as it can: every connection and buffer, and the
//! decide call's connection, exist before the clock starts; a waiter takes its timestamp as soon as its socket
//! turns readable, before it reads; bodies are parsed and checked only once every response is in. What is left
//! is this one thread noticing the responses one after another: when many are ready at once, a waiter's
//! timestamp also includes the reads of those noticed before it (a few microseconds each).

use agentgate_waitbench::read_message;
use anyhow::{Context, anyhow, bail, ensure};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const USAGE: &str =
    "usage: waitbench <port> <waiters> <server pid> [decide port]   (AGENTGATE_API_KEY in the environment)";
/// Room for a response head and the request's JSON, allocated before the clock starts.
const RESPONSE_BUFFER: usize = 8192;

struct Args {
    port: u16,
    waiters: usize,
    pid: u32,
    decide_port: u16,
    api_key: String,
}

impl Args {
    fn from_env() -> anyhow::Result<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if !(3..=4).contains(&args.len()) {
            bail!(USAGE);
        }
        let number =
            |i: usize, name: &str| args[i].parse::<u64>().map_err(|_| anyhow!("{name} must be a number; {USAGE}"));
        let port = u16::try_from(number(0, "port")?).context("port")?;
        Ok(Self {
            port,
            waiters: usize::try_from(number(1, "waiters")?).context("waiters")?.max(1),
            pid: u32::try_from(number(2, "server pid")?).context("server pid")?,
            decide_port: if args.len() == 4 {
                u16::try_from(number(3, "decide port")?).context("decide port")?
            } else {
                port
            },
            api_key: std::env::var("AGENTGATE_API_KEY")
                .map_err(|_| anyhow!("AGENTGATE_API_KEY is not set; {USAGE}"))?,
        })
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::from_env()?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let Args { port, waiters, pid, decide_port, api_key } = args;
    let auth = format!("Authorization: Bearer {api_key}\r\n");

    let mut creator = connect(decide_port).await?;
    // A decision before the measured one, with one waiter, so that what a gateway does only once (preparing its
    // statements, paging in code, the first long poll's database read) is counted neither as the
    // time a decision takes to reach its waiters nor as memory per waiter.
    let warm_up = create(&mut creator, &auth).await?;
    let mut warm_waiter = connect(port).await?;
    warm_waiter.write_all(wait_request(&warm_up, &auth).as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    creator.write_all(post(&format!("/api/requests/{warm_up}/decide"), &auth, DECISION).as_bytes()).await?;
    let decided = read_response(&mut creator, Vec::with_capacity(RESPONSE_BUFFER)).await?;
    ensure!(decided.status == 200, "the warm-up decide answered {}: {}", decided.status, decided.body_text());
    let (warm_answer, warm_waiter) = receive(warm_waiter).await?;
    ensure!(warm_answer.status == 200, "the warm-up wait answered {}: {}", warm_answer.status, warm_answer.body_text());
    drop(warm_waiter);
    let id = create(&mut creator, &auth).await?;
    drop(creator);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;

    let wait = wait_request(&id, &auth);
    let mut streams = Vec::with_capacity(waiters);
    for _ in 0..waiters {
        streams.push(connect(port).await?);
    }
    for stream in &mut streams {
        stream.write_all(wait.as_bytes()).await?;
    }
    // Let every long poll reach the server and register.
    tokio::time::sleep(Duration::from_millis(1000 + waiters as u64 * 2)).await;
    let after = rss_kib(pid)?;

    let receivers: Vec<_> = streams.into_iter().map(|stream| tokio::spawn(receive(stream))).collect();
    let mut decider = connect(decide_port).await?;
    let decide = post(&format!("/api/requests/{id}/decide"), &auth, DECISION);
    // Every receiver polled once and parked on its socket before the clock starts.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    decider.write_all(decide.as_bytes()).await?;
    let decided = read_response(&mut decider, Vec::with_capacity(RESPONSE_BUFFER)).await?;
    let decide_answered = decided.arrived;
    ensure!(decided.status == 200, "decide answered {}: {}", decided.status, decided.body_text());
    let mut responses = Vec::with_capacity(waiters);
    for receiver in receivers {
        responses.push(receiver.await??);
    }
    // Only now that every response is in: a connection closed earlier would make the gateway tear it down while
    // it still writes to the others.
    drop(decider);
    let mut latencies = Vec::with_capacity(waiters);
    for (response, stream) in responses {
        drop(stream);
        latencies.push(response.arrived.duration_since(started));
        ensure!(response.status == 200, "wait answered {}: {}", response.status, response.body_text());
        let status = response.json()?["status"].clone();
        ensure!(status == "approved", "a waiter got status {status}: {}", response.body_text());
    }

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let percentile = |p: usize| ms(latencies[(p * latencies.len() / 100).min(latencies.len() - 1)]);
    println!(
        "wait    waiters={waiters:<5} decide→response p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms;  RSS +{:.1} KB per waiter",
        percentile(50),
        percentile(99),
        ms(latencies[latencies.len() - 1]),
        after.saturating_sub(before) as f64 / waiters as f64,
    );
    println!(
        "        decide call answered after {:.2} ms; first waiter {:.2} ms",
        ms(decide_answered.duration_since(started)),
        ms(latencies[0])
    );
    Ok(())
}

async fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.with_context(|| format!("connecting to port {port}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

const DECISION: &str = r#"{"decision":"approved"}"#;

/// Creates a pending request on `stream`; its id.
async fn create(stream: &mut TcpStream, auth: &str) -> anyhow::Result<String> {
    let create = post("/api/requests", auth, r#"{"action":"deploy","params":{"version":"2.1.0"}}"#);
    stream.write_all(create.as_bytes()).await?;
    let created = read_response(stream, Vec::with_capacity(RESPONSE_BUFFER)).await?;
    ensure!(created.status == 201, "create answered {}: {}", created.status, created.body_text());
    created.json()?["id"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no id in {}", created.body_text()))
}

fn wait_request(id: &str, auth: &str) -> String {
    format!("GET /api/requests/{id}/wait?timeout=60 HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n")
}

fn post(path: &str, auth: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A waiter: the response to its long poll, timestamped when its first bytes arrive, and its connection, still open.
async fn receive(mut stream: TcpStream) -> anyhow::Result<(Response, TcpStream)> {
    let mut buf = Vec::with_capacity(RESPONSE_BUFFER);
    let arrived = loop {
        stream.readable().await?;
        let now = Instant::now();
        match stream.try_read_buf(&mut buf) {
            Ok(0) => bail!("the gateway closed a waiting connection"),
            Ok(_) => break now,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut response = read_response(&mut stream, buf).await?;
    response.arrived = arrived;
    Ok((response, stream))
}

struct Response {
    status: u16,
    /// The whole response, head and body.
    bytes: Vec<u8>,
    body_start: usize,
    /// When its last bytes were read (a waiter's: its first).
    arrived: Instant,
}

impl Response {
    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.bytes[self.body_start..]).into_owned()
    }

    fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.bytes[self.body_start..])
            .with_context(|| format!("not JSON: {}", self.body_text()))
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` body (all the gateway's JSON answers have one); `buf` may
/// already hold its first bytes.
async fn read_response(stream: &mut TcpStream, mut buf: Vec<u8>) -> anyhow::Result<Response> {
    let message = read_message(stream, &mut buf)
        .await?
        .ok_or_else(|| anyhow!("the gateway closed the connection before answering"))?;
    let status = message
        .first_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {:?}", message.first_line))?;
    ensure!(message.content_length.is_some(), "no Content-Length in the response {:?}", message.first_line);
    buf.truncate(message.end);
    Ok(Response { status, bytes: buf, body_start: message.body_start, arrived: Instant::now() })
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("no process {pid}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}
