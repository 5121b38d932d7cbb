//! Client connections: a listener that keeps at most `MAX_CONNECTIONS` open (past the limit it stops accepting
//! until one closes, so further clients wait in the kernel's listen backlog instead of costing this process
//! memory and file descriptors), and [`serve`], which speaks HTTP/1.1 on each.

use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
/// second grows the connection's 8 KB read buffer to 16 KB, which stays for as long as the connection is open:
/// 8 KB more for every waiting client (valgrind massif, 500 waiters).
pub async fn serve<S>(mut listener: LimitedListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: tower::Service<axum::extract::Request<Incoming>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    // hyper's defaults, as `axum::serve` has them: keep-alive, no header timeout (it needs a timer, and the
    // request timeouts of `http::router` apply once the head is in).
    let http = hyper::server::conn::http1::Builder::new();
    let stopping = CancellationToken::new();
    let open = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let io = tokio::select! {
            (io, _) = listener.accept() => io,
            () = &mut shutdown => break,
        };
        let connection = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service.clone()));
        let stopping = stopping.clone();
        open.spawn(async move {
            let mut connection = pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    open.close();
    open.wait().await;
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
        (LimitedStream { stream, _slot: slot }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
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
