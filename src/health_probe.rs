//! `mcp-gateway healthcheck`: one blocking `GET /healthz` against a URL or the address the config
//! binds (loopback when it binds every interface), for container health checks without curl.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::config::ServerSettings;

/// Asks the gateway that `server` describes for `/healthz`; `Err` says why it is not healthy.
pub fn probe(server: &ServerSettings, timeout: Duration) -> Result<(), String> {
    get(probe_address(server)?, "/healthz", timeout)
}

/// Asks `url` (`http://HOST:PORT/PATH`, PATH defaulting to `/healthz`) for a 200.
pub fn probe_url(url: &str, timeout: Duration) -> Result<(), String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|error| format!("bad URL {url}: {error}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// URLs can be probed"));
    }
    let host = uri.host().ok_or_else(|| format!("{url} names no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let address = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))?;
    let path = match uri.path() {
        "" | "/" => "/healthz",
        path => path,
    };
    get(address, path, timeout)
}

/// One `GET path` to `address`; `Ok` on a 200.
fn get(address: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|error| format!("socket: {error}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|error| format!("cannot send to {address}: {error}"))?;
    let mut head = [0u8; 64];
    let read = stream
        .read(&mut head)
        .map_err(|error| format!("no answer from {address}: {error}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "{address} answered {:?}",
            status_line.lines().next().unwrap_or("")
        ))
    }
}

/// The configured address, with the unspecified address replaced by loopback.
fn probe_address(server: &ServerSettings) -> Result<SocketAddr, String> {
    let host = server.host.trim_matches(['[', ']']);
    let host = match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    (host, server.port)
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))
}
