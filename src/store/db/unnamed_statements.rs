//! Transaction pooling (PgBouncer `pool_mode = transaction`, before 1.21) without named
//! prepared statements: a rewrite of the Postgres wire protocol between tokio-postgres and the
//! socket.
//!
//! Why: diesel-async always prepares a *named* statement (`s0`, `s1`, … from a process-wide
//! counter) in one round trip (`Parse`/`Describe`/`Sync`) and runs it in the next
//! (`Bind`/`Execute`/`Sync`), and it caches statements for the life of the connection.
//! Behind a transaction pooler every `Sync` outside a transaction may hand the next message to
//! another server connection: the statement "does not exist" there, is leaked on the first one,
//! and collides with another replica's `s0`. PgBouncer 1.21 can track statements
//! (`max_prepared_statements`); Debian 12's 1.18 cannot, and neither can many managed poolers.
//!
//! What: every statement name in `Parse`, `Describe` and `Bind` becomes the unnamed statement,
//! and a `Bind` of a statement not parsed in the same `Sync` cycle is preceded by a fresh
//! `Parse` of its text (remembered from its first `Parse`). The injected `ParseComplete` is
//! dropped from the answer, so tokio-postgres sees the replies it expects. Each cycle is then
//! self-contained: nothing outlives the `Sync` on the server, whichever connection serves it.
//! The cost is one parse per execution, the same as running without a statement cache.
//! A `Close` of a named statement is passed on (closing an absent statement is not an error)
//! and forgets the remembered text, so the map stays as small as the statement cache.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Above this many unsent bytes a write waits for the socket (back-pressure).
const MAX_PENDING_WRITE: usize = 256 * 1024;

pub struct UnnamedStatements<S> {
    inner: S,
    /// Bytes from tokio-postgres not yet parsed into whole messages.
    from_client: BytesMut,
    /// Rewritten bytes waiting for the socket.
    to_server: BytesMut,
    /// Bytes from the socket not yet parsed into whole messages.
    from_server: BytesMut,
    /// Filtered bytes waiting for tokio-postgres.
    to_client: BytesMut,
    /// Until the startup message is through, client messages carry no type byte.
    started: bool,
    /// Statement name → the body of its `Parse` after the name (query text and parameter types).
    statements: HashMap<String, Vec<u8>>,
    /// Which named statement the unnamed one holds in the cycle being written, if any.
    unnamed_holds: Option<String>,
    /// Whether a cycle is being written (its entry is the back of `swallow`).
    cycle_open: bool,
    /// Per cycle sent and not yet answered (`ReadyForQuery`): injected `ParseComplete`s to drop.
    /// The front is the cycle being answered; the startup counts as the first cycle.
    swallow: VecDeque<u32>,
}

impl<S> UnnamedStatements<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            from_client: BytesMut::new(),
            to_server: BytesMut::new(),
            from_server: BytesMut::new(),
            to_client: BytesMut::new(),
            started: false,
            statements: HashMap::new(),
            unnamed_holds: None,
            cycle_open: true,
            swallow: VecDeque::from([0]),
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Moves every whole client message from `from_client` to `to_server`, rewritten.
    fn rewrite_client_messages(&mut self) -> io::Result<()> {
        loop {
            if !self.started {
                if !self.pass_startup() {
                    return Ok(());
                }
                continue;
            }
            let Some(body_len) = peek_len(&self.from_client, 1) else {
                return Ok(());
            };
            let total = 1 + body_len;
            if self.from_client.len() < total {
                return Ok(());
            }
            let message = self.from_client.split_to(total).freeze();
            self.rewrite(&message)?;
        }
    }

    /// Passes one untyped message of the start-up on; false while it is not whole yet.
    fn pass_startup(&mut self) -> bool {
        // Untyped: SSLRequest/GSSENCRequest (never seen here) or the startup message.
        let Some(len) = peek_len(&self.from_client, 0) else {
            return false;
        };
        if self.from_client.len() < len {
            return false;
        }
        let message = self.from_client.split_to(len);
        let code = message
            .get(4..8)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        // 196608 = protocol 3.0: the startup message; anything else is a negotiation.
        if code.is_some_and(|c| c >> 16 == 3) {
            self.started = true;
            // The startup is answered by its own `ReadyForQuery` (the first entry).
            self.cycle_open = false;
        }
        self.to_server.extend_from_slice(&message);
        true
    }

    /// Rewrites one whole typed client message into `to_server`.
    fn rewrite(&mut self, message: &[u8]) -> io::Result<()> {
        let tag = message[0];
        let body = &message[5..];
        // Only query messages make up cycles: authentication (`p`) and COPY data belong to
        // the exchange already under way.
        if !self.cycle_open && matches!(tag, b'P' | b'B' | b'D' | b'E' | b'C' | b'H' | b'S' | b'Q')
        {
            self.swallow.push_back(0);
            self.cycle_open = true;
        }
        match tag {
            b'P' => {
                let (name, rest) = split_cstr(body)?;
                if name.is_empty() {
                    self.unnamed_holds = None;
                    self.to_server.extend_from_slice(message);
                } else {
                    let name = name_string(name)?;
                    self.statements.insert(name.clone(), rest.to_vec());
                    put_message(&mut self.to_server, b'P', &[b"\0", rest]);
                    self.unnamed_holds = Some(name);
                }
            }
            b'D' if body.first() == Some(&b'S') => {
                let (name, _) = split_cstr(&body[1..])?;
                if name.is_empty() {
                    self.to_server.extend_from_slice(message);
                } else {
                    let name = name_string(name)?;
                    self.ensure_unnamed_holds(&name);
                    put_message(&mut self.to_server, b'D', &[b"S\0"]);
                }
            }
            b'B' => {
                let (portal, rest) = split_cstr(body)?;
                let (name, rest) = split_cstr(rest)?;
                if name.is_empty() {
                    self.to_server.extend_from_slice(message);
                } else {
                    let name = name_string(name)?;
                    self.ensure_unnamed_holds(&name);
                    put_message(&mut self.to_server, b'B', &[portal, b"\0", b"\0", rest]);
                }
            }
            b'C' if body.first() == Some(&b'S') => {
                let (name, _) = split_cstr(&body[1..])?;
                if let Ok(name) = std::str::from_utf8(name) {
                    self.statements.remove(name);
                    if self.unnamed_holds.as_deref() == Some(name) {
                        self.unnamed_holds = None;
                    }
                }
                self.to_server.extend_from_slice(message);
            }
            b'S' | b'Q' => {
                // The next cycle may run on another server connection.
                self.unnamed_holds = None;
                self.cycle_open = false;
                self.to_server.extend_from_slice(message);
            }
            _ => self.to_server.extend_from_slice(message),
        }
        Ok(())
    }

    /// Makes the unnamed statement hold `name` in this cycle, parsing it again if needed.
    fn ensure_unnamed_holds(&mut self, name: &str) {
        if self.unnamed_holds.as_deref() == Some(name) {
            return;
        }
        // Unknown names pass through as the unnamed statement: the server answers with an
        // error rather than running something else.
        if let Some(rest) = self.statements.get(name) {
            put_message(&mut self.to_server, b'P', &[b"\0", rest]);
            if let Some(count) = self.swallow.back_mut() {
                *count += 1;
            }
            self.unnamed_holds = Some(name.to_owned());
        }
    }

    /// Moves every whole server message from `from_server` to `to_client`, minus injected replies.
    fn filter_server_messages(&mut self) {
        while let Some(body_len) = peek_len(&self.from_server, 1) {
            let total = 1 + body_len;
            if self.from_server.len() < total {
                return;
            }
            let message = self.from_server.split_to(total);
            match message[0] {
                b'1' => {
                    if let Some(count) = self.swallow.front_mut()
                        && *count > 0
                    {
                        *count -= 1;
                        continue;
                    }
                }
                b'Z' => {
                    self.swallow.pop_front();
                }
                _ => {}
            }
            self.to_client.extend_from_slice(&message);
        }
    }
}

impl<S: AsyncWrite + Unpin> UnnamedStatements<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.to_server.is_empty() {
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.to_server))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.to_server.advance(written);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for UnnamedStatements<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.to_client.is_empty() {
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // End of stream: hand over whatever is left, then report the end.
                let rest = this.from_server.split();
                this.to_client.extend_from_slice(&rest);
                break;
            }
            this.from_server.extend_from_slice(read.filled());
            this.filter_server_messages();
        }
        let n = this.to_client.len().min(buf.remaining());
        buf.put_slice(&this.to_client[..n]);
        this.to_client.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for UnnamedStatements<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.to_server.len() > MAX_PENDING_WRITE {
            ready!(this.poll_drain(cx))?;
        }
        this.from_client.extend_from_slice(buf);
        this.rewrite_client_messages()?;
        // Start sending; what does not fit now goes on flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: tokio_postgres::tls::TlsStream + Unpin> tokio_postgres::tls::TlsStream
    for UnnamedStatements<S>
{
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        self.inner.channel_binding()
    }
}

/// The length field at `at` (which counts itself), as a whole message length from `at`.
fn peek_len(buf: &BytesMut, at: usize) -> Option<usize> {
    let field = buf.get(at..at + 4)?;
    let len = u32::from_be_bytes([field[0], field[1], field[2], field[3]]) as usize;
    Some(len.max(4))
}

fn split_cstr(bytes: &[u8]) -> io::Result<(&[u8], &[u8])> {
    let end = bytes
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unterminated string"))?;
    Ok((&bytes[..end], &bytes[end + 1..]))
}

fn name_string(name: &[u8]) -> io::Result<String> {
    String::from_utf8(name.to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "statement name is not UTF-8"))
}

fn put_message(out: &mut BytesMut, tag: u8, parts: &[&[u8]]) {
    let len: usize = 4 + parts.iter().map(|p| p.len()).sum::<usize>();
    out.put_u8(tag);
    out.put_u32(len as u32);
    for part in parts {
        out.put_slice(part);
    }
}
