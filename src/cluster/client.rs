//! A small blocking RESP2 client, for the threads that talk to other servers without
//! touching a shard's ring (MEET's handshake, MIGRATE's transfer) and for
//! `shardis-pool`. Plain `std::net` with timeouts; requests can be pipelined
//! (`send` several, then `read` as many replies).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a simple string or bulk reply.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

pub struct Client {
    out: TcpStream,
    input: BufReader<TcpStream>,
}

impl Client {
    /// Connects within `timeout`; reads and writes then time out after it too.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<Client> {
        Client::connect_from(host, port, timeout, "")
    }

    /// `connect` from the local address `source` (`bind-source-addr`; empty: any).
    pub fn connect_from(host: &str, port: u16, timeout: Duration, source: &str) -> std::io::Result<Client> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for addr in (host, port).to_socket_addrs()? {
            match crate::io::sock::connect_from(&addr, source, timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(timeout))?;
                    s.set_write_timeout(Some(timeout))?;
                    s.set_nodelay(true)?;
                    return Ok(Client { input: BufReader::new(s.try_clone()?), out: s });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Queues one request (written at once; replies are read with `read`).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.out.write_all(&buf)
    }

    pub fn read(&mut self) -> std::io::Result<Reply> {
        read_reply(&mut self.input)
    }

    /// One request, one reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Reply> {
        self.send(args)?;
        self.read()
    }
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad reply: {what}"))
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.len() < 3 || !line.ends_with(b"\r\n") {
        return Err(if line.is_empty() {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed")
        } else {
            bad("truncated line")
        });
    }
    let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
    let num = || body.parse::<i64>().map_err(|_| bad("length"));
    Ok(match line[0] {
        b'+' => Reply::Simple(body),
        b'-' => Reply::Error(body),
        b':' => Reply::Int(num()?),
        b'$' => {
            let n = num()?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut b = vec![0; n as usize + 2];
                r.read_exact(&mut b)?;
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
        }
        b'*' => {
            let n = num()?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut v = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    v.push(read_reply(r)?);
                }
                Reply::Array(Some(v))
            }
        }
        _ => return Err(bad("type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_reply_type() {
        let mut input: &[u8] = b"+OK\r\n-ERR x\r\n:12\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$1\r\nz\r\n*-1\r\n";
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Error("ERR x".into()));
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Int(12));
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Bulk(Some(b"abc".to_vec())));
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Array(Some(vec![Reply::Int(1), Reply::Bulk(Some(b"z".to_vec()))]))
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Array(None));
        assert!(read_reply(&mut input).is_err());
    }
}
