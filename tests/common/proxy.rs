//! A small HTTP/1.1 proxy in front of the emulator that can refuse connections from a given
//! request on: after forwarding the answer to request `k - 1` it closes its listening socket
//! (so the next connect is refused by the OS) and the client's connection (answering with
//! `Connection: close`, so it is not reused), and opens again after `reopen` if set.
//! Requests and answers are framed by `Content-Length` (what the agent and the emulator use).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub struct RefusingProxy {
    pub addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    upstream: SocketAddr,
    addr: Mutex<Option<SocketAddr>>,
    /// Answers forwarded so far.
    answered: AtomicUsize,
    /// 1-based number of the first request whose connection is refused (0: never).
    refuse_at: usize,
    reopen: Option<Duration>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    s.listen(128)
}

impl RefusingProxy {
    /// A proxy to `upstream` refusing request `refuse_at` (1-based; 0: never) and, when
    /// `reopen` is `None`, every request after it.
    pub async fn start(
        upstream: SocketAddr,
        refuse_at: usize,
        reopen: Option<Duration>,
    ) -> RefusingProxy {
        let listener = listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            upstream,
            addr: Mutex::new(Some(addr)),
            answered: AtomicUsize::new(0),
            refuse_at,
            reopen,
            accept: Mutex::new(None),
        });
        if refuse_at == 1 {
            drop(listener);
            State::reopen_later(&state);
        } else {
            State::serve(&state, listener);
        }
        RefusingProxy { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        if let Some(t) = self.state.accept.lock().unwrap().take() {
            t.abort();
        }
    }
}

impl State {
    fn serve(state: &Arc<State>, listener: TcpListener) {
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = st.connection(client).await;
                });
            }
        });
        *state.accept.lock().unwrap() = Some(task);
    }

    fn close(&self) {
        if let Some(t) = self.accept.lock().unwrap().take() {
            t.abort();
        }
    }

    fn reopen_later(state: &Arc<State>) {
        let Some(after) = state.reopen else { return };
        let st = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let addr = st.addr.lock().unwrap().expect("bound once");
            if let Ok(l) = listen(addr) {
                State::serve(&st, l);
            }
        });
    }

    async fn connection(self: Arc<State>, client: TcpStream) -> std::io::Result<()> {
        let upstream = TcpStream::connect(self.upstream).await?;
        let (cr, mut cw) = client.into_split();
        let (ur, mut uw) = upstream.into_split();
        let mut cr = BufReader::new(cr);
        let mut ur = BufReader::new(ur);
        loop {
            let Some(request) = read_message(&mut cr).await? else {
                return Ok(());
            };
            uw.write_all(&request).await?;
            let Some(mut answer) = read_message(&mut ur).await? else {
                return Ok(());
            };
            let n = self.answered.fetch_add(1, Ordering::SeqCst) + 1;
            if self.refuse_at > 1 && n + 1 == self.refuse_at {
                // Close the door before the client can ask again.
                self.close();
                answer = with_connection_close(&answer);
                cw.write_all(&answer).await?;
                cw.shutdown().await?;
                let st = self.clone();
                State::reopen_later(&st);
                return Ok(());
            }
            cw.write_all(&answer).await?;
        }
    }
}

/// One HTTP/1.1 message (head and `Content-Length` body), or `None` at the end of the stream.
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        assert!(
            !text.starts_with("transfer-encoding:"),
            "the test proxy frames messages by Content-Length only"
        );
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await?;
    head.extend_from_slice(&body);
    Ok(Some(head))
}

/// The answer with `connection: close` among its headers.
fn with_connection_close(answer: &[u8]) -> Vec<u8> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 2;
    let mut out = answer[..end].to_vec();
    out.extend_from_slice(b"connection: close\r\n");
    out.extend_from_slice(&answer[end..]);
    out
}
