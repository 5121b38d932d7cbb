//! Client connections: a listener that keeps at most `MAX_CONNECTIONS` open (past the limit it stops accepting
//! until one closes, so further clients wait in the kernel's listen backlog instead of costing this process
//! memory and file descriptors), and [`serve`], which speaks HTTP/1.1 on each and holds long polls outside hyper.
//!
//! A long poll ([`Deferred`]) costs a connection only the wait itself: hyper's connection state (its two 8 KB
//! buffers, the middleware's futures) is dropped while the answer is pending, and the answer is written here.

use axum::http::{HeaderMap, Method, Request, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use bytes::Bytes;
use futures::future::{Either, Pending, Ready};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves `service` over HTTP/1.1 on `listener` until `shutdown` completes; then stops accepting, lets every open
/// connection finish the request it is serving (idle keep-alive connections close at once), and returns when all
/// have closed.
///
/// This is `axum::serve` narrowed to what the gateway speaks (axum is built without HTTP/2): hyper's HTTP/1
/// connection instead of hyper-util's auto one. The auto connection first reads 24 bytes to tell HTTP/1 from
/// HTTP/2 and hands them back through a rewinding wrapper; hyper's first read then returns only those, and its
/// second grows the connection's 8 KB read buffer to 16 KB, which stays for as long as the connection is open.
pub async fn serve<S: AppService>(mut listener: LimitedListener, service: S, shutdown: impl Future<Output = ()>) {
    let service = Arc::new(service);
    let stopping = CancellationToken::new();
    let open = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        open.spawn(serve_connection(io, service.clone(), stopping.clone()));
    }
    drop(listener);
    stopping.cancel();
    open.close();
    open.wait().await;
}

/// The service every connection runs: the whole HTTP surface (`http::router`).
pub trait AppService:
    tower::Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + Unpin
    + 'static
{
}

impl<S> AppService for S where
    S: tower::Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + Unpin
        + 'static
{
}

/// One client connection: hyper serves its requests until it closes or a response is deferred; a deferred
/// answer is awaited and written here, and hyper takes the connection back for the next request.
async fn serve_connection<S: AppService>(mut io: LimitedStream, service: Arc<S>, stopping: CancellationToken) {
    loop {
        // hyper's state (16 KB of buffers) only once the client has sent something: a connection idle before its
        // first request, or after a long poll's answer, costs just its socket. (A peek, not `readable()`, which
        // can report a fresh socket ready before any data has arrived.)
        if io.unread.is_empty() {
            let mut first = [0u8; 1];
            tokio::select! {
                peeked = io.stream.peek(&mut first) => if !matches!(peeked, Ok(n) if n > 0) { return },
                () = stopping.cancelled() => return,
            }
        }
        // Boxed: what a parked connection holds is this task, and hyper's part of it is gone by then.
        let Some((returned, Parked { head, answer, keep_alive, on_answer, line })) =
            Box::pin(serve_http(io, (*service).clone(), &stopping)).await
        else {
            return;
        };
        line.wait(returned, head, keep_alive, stopping.clone());
        tokio::select! {
            biased;
            () = line.answered() => {}
            (status, body) = answer => { line.answer(status, &body); }
            () = line.hung_up() => {}
        }
        let Some((returned, answered)) = line.take() else { return };
        io = returned;
        let Some(Answered { status, unwritten, keep_alive }) = answered else { return };
        let written = match unwritten {
            Ok(rest) => io.write_all(&rest).await.is_ok(),
            Err(()) => false,
        };
        if let Some(on_answer) = on_answer {
            on_answer(status);
        }
        if !written || !keep_alive {
            let _ = io.shutdown().await;
            return;
        }
    }
}

/// hyper serves the connection until it closes (`None`) or a response is deferred: then hyper's connection is
/// taken apart, and the client's stream comes back with the deferred answer.
async fn serve_http<S: AppService>(
    io: LimitedStream,
    service: S,
    stopping: &CancellationToken,
) -> Option<(LimitedStream, Parked)> {
    let slot = ParkingSlot::default();
    // hyper's defaults, as `axum::serve` has them: keep-alive, no header timeout (it needs a timer, and the
    // request timeouts of `http::router` apply once the head is in).
    let mut connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(Deferring { inner: service, slot: slot.clone() }));
    let mut stop = pin!(stopping.cancelled());
    let mut graceful = false;
    let parked = poll_fn(|cx| {
        if !graceful && stop.as_mut().poll(cx).is_ready() {
            graceful = true;
            Pin::new(&mut connection).graceful_shutdown();
        }
        if let Poll::Ready(served) = Pin::new(&mut connection).poll(cx) {
            if let Err(e) = served {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            return Poll::Ready(None);
        }
        // A deferred response parks itself in the slot while hyper polls it (and then waits forever in hyper).
        match slot.take() {
            Some(parked) => Poll::Ready(Some(parked)),
            None => Poll::Pending,
        }
    })
    .await?;
    let parts = connection.into_parts();
    let mut io = parts.io.into_inner();
    // Bytes the client sent after the long poll (a pipelined request), copied so that hyper's read buffer is
    // freed now.
    io.unread = Bytes::copy_from_slice(&parts.read_buf);
    Some((io, parked))
}

/// A deferred answer as the parts it is written from, in order: the status line, the header lines the middleware
/// gave the response, the framing headers (length, date, connection) with the blank line, and the body. Only the
/// two small parts are rendered per answer; the header lines and the body are written from where they are (a
/// decision's body is one buffer shared by all its waiters).
struct AnswerParts<'a> {
    /// The status line, then the framing: `rendered[..status_line]` and `rendered[status_line..]`.
    rendered: Vec<u8>,
    status_line: usize,
    head: &'a [u8],
    body: &'a [u8],
}

impl<'a> AnswerParts<'a> {
    fn new(status: StatusCode, head: &'a [u8], body: &'a [u8], keep_alive: bool) -> Self {
        use std::io::Write;
        let mut rendered = Vec::with_capacity(160);
        // Writing to a Vec cannot fail.
        let _ = write!(rendered, "HTTP/1.1 {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or(""));
        let status_line = rendered.len();
        let _ = write!(rendered, "content-length: {}\r\ndate: ", body.len());
        http_date(&mut rendered);
        rendered.extend_from_slice(b"\r\n");
        if !keep_alive {
            rendered.extend_from_slice(b"connection: close\r\n");
        }
        rendered.extend_from_slice(b"\r\n");
        Self { rendered, status_line, head, body }
    }

    fn slices(&self) -> [&[u8]; 4] {
        let (status_line, framing) = self.rendered.split_at(self.status_line);
        [status_line, self.head, framing, self.body]
    }

    /// What is left once the first `written` bytes are out.
    fn after(&self, written: usize) -> Vec<u8> {
        let slices = self.slices();
        let mut rest = Vec::with_capacity(slices.iter().map(|s| s.len()).sum::<usize>().saturating_sub(written));
        let mut skip = written;
        for slice in slices {
            let from = skip.min(slice.len());
            skip -= from;
            rest.extend_from_slice(&slice[from..]);
        }
        rest
    }
}

/// Appends the `date` header's value, formatted once a second per thread (as hyper does for its responses):
/// a decision answering many waiters at once formats it once.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static FORMATTED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let second = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    FORMATTED.with_borrow_mut(|(at, text)| {
        if *at != second || text.is_empty() {
            *at = second;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(text.as_bytes());
    });
}

/// The answer a deferred response produces later: its status and JSON body.
pub type Answer = (StatusCode, Bytes);

/// Put on a request by [`serve`] when its connection can defer the answer: a GET without a body (nothing of it
/// left to read), whose answer may then be written outside hyper.
#[derive(Clone)]
pub struct Deferrable {
    slot: ParkingSlot,
    keep_alive: bool,
    line: AnswerLine,
}

impl Deferrable {
    /// Where the deferred answer can be written from, by whoever learns it first (see [`AnswerLine`]).
    pub fn line(&self) -> AnswerLine {
        self.line.clone()
    }
}

/// A deferred response's connection, which whoever learns the answer can write it to at once, from its own task.
///
/// When one decision ends many long polls, the task handing out the decision writes every waiter's answer as
/// it goes, one after another, instead of waking a task per connection to do it; each connection's task then
/// only finishes up (metrics, the next request) once the answers are out. Answering is first come, first
/// served: the connection's own answer future (timeout, shutdown, an unknown id…) writes through here too.
#[derive(Clone, Default)]
pub struct AnswerLine(Arc<LineShared>);

#[derive(Default)]
struct LineShared {
    state: Mutex<LineState>,
    answered: tokio::sync::Notify,
}

#[derive(Default)]
enum LineState {
    /// Not parked yet, or already taken back by the connection: nothing to write to.
    #[default]
    Idle,
    Waiting(WaitingIo),
    Answered(WaitingIo, Answered),
}

struct WaitingIo {
    io: LimitedStream,
    head: Vec<u8>,
    keep_alive: bool,
    stopping: CancellationToken,
}

/// What the answer left for the connection to do.
struct Answered {
    status: StatusCode,
    /// What the socket did not take at once (usually nothing); `Err` when writing failed.
    unwritten: Result<Vec<u8>, ()>,
    /// Whether the connection stays open after this answer.
    keep_alive: bool,
}

impl AnswerLine {
    fn lock(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the answer unless the connection has one already (or is gone), and wakes the connection's task to
    /// finish up. Never blocks: what the socket does not take at once is left for the connection's task.
    pub fn answer(&self, status: StatusCode, body: &[u8]) {
        if self.write(status, body) {
            self.wake();
        }
    }

    /// [`AnswerLine::answer`] without the wake-up: whoever writes many answers back to back wakes their
    /// connections' tasks after the last one ([`AnswerLine::wake`]), so that no answer waits for another's
    /// bookkeeping. Whether this call wrote the answer.
    pub fn write(&self, status: StatusCode, body: &[u8]) -> bool {
        let mut state = self.lock();
        let waiting = match std::mem::take(&mut *state) {
            LineState::Waiting(waiting) => waiting,
            earlier => {
                // Answered already, or nothing to write to: left as it was.
                *state = earlier;
                return false;
            }
        };
        let keep_alive = waiting.keep_alive && !waiting.stopping.is_cancelled();
        let parts = AnswerParts::new(status, &waiting.head, body, keep_alive);
        let unwritten = match waiting.io.stream.try_write_vectored(&parts.slices().map(io::IoSlice::new)) {
            Ok(n) => Ok(parts.after(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(parts.after(0)),
            Err(_) => Err(()),
        };
        drop(parts);
        *state = LineState::Answered(waiting, Answered { status, unwritten, keep_alive });
        true
    }

    /// Wakes the connection's task once its answer is written.
    pub fn wake(&self) {
        self.0.answered.notify_one();
    }

    /// The connection waits here for its answer.
    fn wait(&self, io: LimitedStream, head: Vec<u8>, keep_alive: bool, stopping: CancellationToken) {
        *self.lock() = LineState::Waiting(WaitingIo { io, head, keep_alive, stopping });
    }

    async fn answered(&self) {
        self.0.answered.notified().await;
    }

    /// Resolves when the client closes its side (or its connection fails) before the answer; pending while it
    /// is open. A pipelined request that arrives meanwhile stays in the socket for hyper, and stops the watch.
    async fn hung_up(&self) {
        let mut watching = true;
        poll_fn(|cx| {
            let state = self.lock();
            let LineState::Waiting(waiting) = &*state else { return Poll::Pending };
            if !watching {
                return Poll::Pending;
            }
            let mut byte = [0u8; 1];
            match waiting.io.stream.poll_peek(cx, &mut ReadBuf::new(&mut byte)) {
                Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(()),
                Poll::Ready(Ok(_)) => {
                    watching = false;
                    Poll::Pending
                }
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
    }

    /// Takes the connection back, with its answer if it has one (`None` when the client hung up first).
    fn take(&self) -> Option<(LimitedStream, Option<Answered>)> {
        match std::mem::take(&mut *self.lock()) {
            LineState::Idle => None,
            LineState::Waiting(waiting) => Some((waiting.io, None)),
            LineState::Answered(waiting, answered) => Some((waiting.io, Some(answered))),
        }
    }
}

/// A response whose answer comes later. The middleware sees it as any response (and adds its headers); at the
/// top of the stack it parks in its connection's slot instead of going to hyper, and [`serve`] writes the
/// answer with those headers once `answer` resolves.
#[derive(Clone)]
pub struct Deferred {
    parked: Arc<Mutex<Option<Parked>>>,
    slot: ParkingSlot,
}

impl Deferred {
    /// A `200 application/json` response whose body `answer` will produce.
    pub fn response(deferrable: Deferrable, answer: impl Future<Output = Answer> + Send + 'static) -> Response {
        let Deferrable { slot, keep_alive, line } = deferrable;
        let parked = Parked { head: Vec::new(), answer: Box::pin(answer), keep_alive, on_answer: None, line };
        let mut response = [(header::CONTENT_TYPE, "application/json")].into_response();
        response.extensions_mut().insert(Deferred { parked: Arc::new(Mutex::new(Some(parked))), slot });
        response
    }

    /// Runs `hook` with the answer's status once it is written (a middleware that measures requests counts a
    /// long poll then, not when it started waiting).
    pub fn when_answered(&self, hook: impl FnOnce(StatusCode) + Send + 'static) {
        if let Some(parked) = self.parked.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let earlier = parked.on_answer.take();
            parked.on_answer = Some(Box::new(move |status| {
                if let Some(earlier) = earlier {
                    earlier(status);
                }
                hook(status);
            }));
        }
    }
}

struct Parked {
    /// The response's header lines, rendered when it parked.
    head: Vec<u8>,
    answer: Pin<Box<dyn Future<Output = Answer> + Send>>,
    keep_alive: bool,
    on_answer: Option<Box<dyn FnOnce(StatusCode) + Send>>,
    line: AnswerLine,
}

/// Where a connection's deferred response waits for `serve_connection` to take it.
#[derive(Clone, Default)]
struct ParkingSlot(Arc<Mutex<Option<Parked>>>);

impl ParkingSlot {
    fn put(&self, parked: Parked) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(parked);
    }

    fn take(&self) -> Option<Parked> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The connection's service: marks the requests it may defer, and parks deferred responses.
#[derive(Clone)]
struct Deferring<S> {
    inner: S,
    slot: ParkingSlot,
}

type Served = Result<Response, Infallible>;
type ParkOrPass = Either<Ready<Served>, Pending<Served>>;

impl<S> tower::Service<Request<Incoming>> for Deferring<S>
where
    S: tower::Service<Request<Incoming>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Then<S::Future, ParkOrPass, fn(Served) -> ParkOrPass>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let headers = req.headers();
        // A GET (not a HEAD, whose answer has no body) with nothing left to read.
        let bodiless = req.method() == Method::GET
            && !headers.contains_key(header::TRANSFER_ENCODING)
            && !headers.contains_key(header::EXPECT)
            && headers.get(header::CONTENT_LENGTH).is_none_or(|length| length == "0");
        if bodiless {
            let keep_alive = req.version() == Version::HTTP_11 && !wants_close(headers);
            req.extensions_mut().insert(Deferrable {
                slot: self.slot.clone(),
                keep_alive,
                line: AnswerLine::default(),
            });
        }
        futures::FutureExt::then(self.inner.call(req), park_deferred)
    }
}

/// A deferred response parks in its connection's slot and never resolves in hyper; others pass.
fn park_deferred(served: Served) -> ParkOrPass {
    let Ok(mut response) = served;
    let Some(deferred) = response.extensions_mut().remove::<Deferred>() else {
        return Either::Left(futures::future::ready(Ok(response)));
    };
    // Always there: a `Deferred` is made with its answer and reaches the top of the stack once.
    let Some(mut parked) = deferred.parked.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return Either::Left(futures::future::ready(Ok(response)));
    };
    parked.head = header_lines(response.headers());
    deferred.slot.put(parked);
    Either::Right(futures::future::pending())
}

fn header_lines(headers: &HeaderMap) -> Vec<u8> {
    let mut lines = Vec::with_capacity(512);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            continue;
        }
        lines.extend_from_slice(name.as_str().as_bytes());
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(value.as_bytes());
        lines.extend_from_slice(b"\r\n");
    }
    lines
}

fn wants_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, max_connections: usize) -> Self {
        Self { inner, slots: Arc::new(Semaphore::new(max_connections.max(1))) }
    }
}

/// A connection holding its slot until it is dropped.
pub struct LimitedStream {
    stream: TcpStream,
    /// Bytes read from the client but not yet served (handed back by hyper when a long poll parked); reads
    /// return these first.
    unread: Bytes,
    _slot: OwnedSemaphorePermit,
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed, so acquiring only waits.
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return std::future::pending().await;
        };
        // axum's accept for a TcpListener: errors (too many open files…) are logged and retried after a pause.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (LimitedStream { stream, unread: Bytes::new(), _slot: slot }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_its_parts_in_order_and_what_a_partial_write_leaves_is_the_rest() {
        let head = b"content-type: application/json\r\nx-request-id: r1\r\n";
        let parts = AnswerParts::new(StatusCode::OK, head, br#"{"ok":true}"#, true);
        let whole = parts.after(0);
        let text = String::from_utf8_lossy(&whole);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: r1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\ncontent-length: 11\r\ndate: "), "{text}");
        assert!(text.ends_with(" GMT\r\n\r\n{\"ok\":true}"), "{text}");
        assert!(!text.contains("connection: close"), "{text}");
        // Every cut, inside a part or between two, leaves exactly the bytes after it.
        for written in 0..=whole.len() {
            assert_eq!(parts.after(written), whole[written..], "after {written} bytes");
        }

        let closing = AnswerParts::new(StatusCode::NOT_FOUND, b"", b"{}", false).after(0);
        let text = String::from_utf8_lossy(&closing);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n"), "{text}");
        assert!(text.ends_with("\r\nconnection: close\r\n\r\n{}"), "{text}");
    }
}
