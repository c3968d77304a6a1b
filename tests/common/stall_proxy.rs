//! A TCP proxy that can stall: it forwards both ways between a client and a real database
//! server and, once told to, stops forwarding server → client after a number of bytes per
//! connection while keeping both sockets open — a server or network that stops sending in
//! the middle of a result without closing anything.
//!
//! A stalled connection also ignores its client going away (the server side stays open and
//! unread, as behind a dead network path), so only the agent stopping the query on the
//! server ends the server's work. Dropping the proxy closes every socket.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct StallProxy {
    pub port: u16,
    /// Bytes server → client after which a connection stalls (`u64::MAX`: never).
    limit: Arc<AtomicU64>,
    /// Connections that stalled so far.
    stalled: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl StallProxy {
    /// Listen on a free loopback port and forward every connection to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: String) -> StallProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let limit = Arc::new(AtomicU64::new(u64::MAX));
        let stalled = Arc::new(AtomicUsize::new(0));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (l, s, t) = (limit.clone(), stalled.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                for h in forward(client, server, l.clone(), s.clone()) {
                    t.lock().unwrap().push(h);
                }
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        StallProxy {
            port,
            limit,
            stalled,
            tasks,
        }
    }

    /// From now on, every connection stops forwarding server → client once it has forwarded
    /// `bytes` bytes that way (counted from the connection's start).
    pub fn stall_after(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::SeqCst);
    }

    /// How many connections have stalled.
    pub fn stalled(&self) -> usize {
        self.stalled.load(Ordering::SeqCst)
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        for h in self.tasks.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

fn forward(
    client: TcpStream,
    server: TcpStream,
    limit: Arc<AtomicU64>,
    stalled_count: Arc<AtomicUsize>,
) -> [AbortHandle; 2] {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let stalled = Arc::new(AtomicBool::new(false));
    let s = stalled.clone();
    // Client → server, always; when the client goes, the server side is closed too unless
    // the connection stalled (then it stays open, unread, until the proxy is dropped).
    let up = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        if s.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        drop(sw);
    });
    // Server → client, up to the limit.
    let down = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent: u64 = 0;
        loop {
            let max = limit.load(Ordering::SeqCst);
            if sent >= max {
                stalled.store(true, Ordering::SeqCst);
                stalled_count.fetch_add(1, Ordering::SeqCst);
                // Hold both sockets, read nothing more.
                let _keep = (&sr, &cw);
                std::future::pending::<()>().await;
            }
            let room = (max - sent).min(buf.len() as u64) as usize;
            match sr.read(&mut buf[..room]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    sent += n as u64;
                }
            }
        }
    });
    [up.abort_handle(), down.abort_handle()]
}
