//! The measured window's HTTP client: one keep-alive HTTP/1.1 connection per task, requests
//! serialized before the window, and answers framed by httparse, as wrk does. The load
//! generator shares the machine with the server, so every microsecond it spends per request
//! is taken from the server: reqwest cost about 77 µs of CPU per issuance request (its pool,
//! header maps and body copies), which this client avoids. Plain HTTP only: the generator
//! measures the server on its own listener, not a TLS proxy in front of it.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request ready to be written: where it goes and its bytes on the wire.
pub(super) struct Request {
    /// `host:port` of the server.
    pub authority: String,
    /// The whole HTTP/1.1 request.
    pub bytes: Vec<u8>,
}

/// Where JSON bodies are POSTed, with the request head fixed once.
pub(super) struct Endpoint {
    authority: String,
    // The request line, `Host` and `Content-Type`.
    head: String,
    // The `Authorization` line, or nothing.
    authorization: String,
}

impl Endpoint {
    /// JSON POSTs to `url`, with a bearer `token` when given.
    pub fn new(url: &str, token: Option<&str>) -> Result<Endpoint, String> {
        let url = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "{url}: the load generator speaks plain HTTP to the server's own listener"
            ));
        }
        let host = url.host_str().ok_or_else(|| format!("{url}: no host"))?;
        let authority = match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n",
            &url[url::Position::BeforePath..],
        );
        let authorization = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        Ok(Endpoint {
            authority,
            head,
            authorization,
        })
    }

    /// The request that POSTs `body` here.
    pub fn post(&self, body: &[u8]) -> Request {
        let mut bytes =
            Vec::with_capacity(self.head.len() + self.authorization.len() + body.len() + 32);
        bytes.extend_from_slice(self.head.as_bytes());
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        bytes.extend_from_slice(self.authorization.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        Request {
            authority: self.authority.clone(),
            bytes,
        }
    }
}

/// A keep-alive connection to one server, opened on first use and again after a failure.
pub(super) struct Connection {
    authority: String,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

/// What went wrong with one exchange; the connection is closed after it.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server answered with this non-2xx status.
    Status(u16),
    /// No answer: connection refused or reset, or an answer that is not HTTP/1.1.
    Transport,
}

impl Connection {
    pub fn new(authority: &str) -> Connection {
        Connection {
            authority: authority.to_owned(),
            stream: None,
            buffer: Vec::with_capacity(READ_SIZE),
        }
    }

    /// The server this connection talks to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `request` and returns the body of a 2xx answer.
    pub async fn exchange(&mut self, request: &Request) -> Result<Vec<u8>, Failure> {
        let outcome = self.try_exchange(request).await;
        if !matches!(outcome, Ok((_, true))) {
            self.stream = None;
        }
        match outcome {
            Ok((Answer { status, body }, _)) if (200..300).contains(&status) => Ok(body),
            Ok((Answer { status, .. }, _)) => Err(Failure::Status(status)),
            Err(_) => Err(Failure::Transport),
        }
    }

    /// One exchange; also says whether the connection may be reused.
    async fn try_exchange(&mut self, request: &Request) -> std::io::Result<(Answer, bool)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.authority).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buffer.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        stream.write_all(&request.bytes).await?;
        read_answer(stream, &mut self.buffer).await
    }
}

/// A status and its body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// Reads one answer from `stream`, `buffer` holding what was read but not yet used.
async fn read_answer(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<(Answer, bool)> {
    let (status, head_len, framing, keep_alive) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buffer).map_err(|e| invalid(e.to_string()))? {
            httparse::Status::Complete(head_len) => {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| h.value)
                };
                let mentions = |value: &[u8], token: &[u8]| {
                    value
                        .windows(token.len())
                        .any(|w| w.eq_ignore_ascii_case(token))
                };
                let framing = match (header("transfer-encoding"), header("content-length")) {
                    (Some(te), _) if mentions(te, b"chunked") => Framing::Chunked,
                    (_, Some(len)) => Framing::Length(
                        std::str::from_utf8(len)
                            .ok()
                            .and_then(|len| len.trim().parse().ok())
                            .ok_or_else(|| invalid("bad Content-Length"))?,
                    ),
                    _ => Framing::Length(0),
                };
                let keep_alive = header("connection").is_none_or(|c| !mentions(c, b"close"));
                break (status, head_len, framing, keep_alive);
            }
            httparse::Status::Partial => fill(stream, buffer).await?,
        }
    };
    buffer.drain(..head_len);
    let body = match framing {
        Framing::Length(len) => {
            while buffer.len() < len {
                fill(stream, buffer).await?;
            }
            buffer.drain(..len).collect()
        }
        Framing::Chunked => read_chunked(stream, buffer).await?,
    };
    Ok((Answer { status, body }, keep_alive))
}

/// How an answer's body is delimited.
enum Framing {
    Length(usize),
    Chunked,
}

/// Reads a chunked body (RFC 9112 §7.1); trailers are read and dropped.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (start, size) =
            match httparse::parse_chunk_size(buffer).map_err(|_| invalid("bad chunk size"))? {
                httparse::Status::Complete((start, size)) => (start, size as usize),
                httparse::Status::Partial => {
                    fill(stream, buffer).await?;
                    continue;
                }
            };
        if size == 0 {
            // The last chunk, then trailer lines up to an empty one.
            buffer.drain(..start);
            loop {
                match buffer.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        buffer.drain(..2);
                        return Ok(body);
                    }
                    Some(end) => {
                        buffer.drain(..end + 2);
                    }
                    None => fill(stream, buffer).await?,
                }
            }
        }
        while buffer.len() < start + size + 2 {
            fill(stream, buffer).await?;
        }
        body.extend_from_slice(&buffer[start..start + size]);
        buffer.drain(..start + size + 2);
    }
}

/// Appends what the socket has to `buffer`; the server closing it is an error here. The read
/// goes straight into the buffer's spare capacity: reading into a zeroed 16 KiB array and
/// copying from it cost a 16 KiB `memset` per read, 5% of the generator's CPU.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.reserve(READ_SIZE);
    if stream.read_buf(buffer).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// The least room offered to each read: an issuance answer (about 3 KiB) fits in one.
const READ_SIZE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_serialized_with_its_length_and_token() {
        let request = Endpoint::new("http://127.0.0.1:5600/api/v2/signingCert?x=1", Some("t"))
            .unwrap()
            .post(b"{}");
        assert_eq!(request.authority, "127.0.0.1:5600");
        assert_eq!(
            String::from_utf8(request.bytes).unwrap(),
            "POST /api/v2/signingCert?x=1 HTTP/1.1\r\nHost: 127.0.0.1:5600\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\
             Authorization: Bearer t\r\n\r\n{}"
        );
        assert!(Endpoint::new("https://example.com/", None).is_err());
    }

    /// A server that writes `answer` in small pieces after each request it reads.
    async fn serve(answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            while socket.read(&mut request).await.unwrap_or(0) > 0 {
                for piece in answer.chunks(7) {
                    socket.write_all(piece).await.unwrap();
                    socket.flush().await.unwrap();
                }
            }
        });
        authority
    }

    #[tokio::test]
    async fn answers_are_framed_by_length_or_chunks_and_the_connection_is_reused() {
        let authority = serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        )
        .await;
        let request = Endpoint::new(&format!("http://{authority}/"), None)
            .unwrap()
            .post(b"{}");
        let mut connection = Connection::new(&authority);
        for _ in 0..2 {
            assert_eq!(connection.exchange(&request).await.unwrap(), b"hello world");
        }

        let authority = serve(b"HTTP/1.1 429 Too Many\r\nContent-Length: 4\r\n\r\nslow").await;
        let request = Endpoint::new(&format!("http://{authority}/"), None)
            .unwrap()
            .post(b"{}");
        let mut connection = Connection::new(&authority);
        assert!(matches!(
            connection.exchange(&request).await,
            Err(Failure::Status(429))
        ));
    }
}
