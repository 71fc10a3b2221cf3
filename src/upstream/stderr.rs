//! Forwards a stdio child's stderr to the log, line by line, with a cap on line length and the
//! upstream's secrets scrubbed. It keeps draining after invalid UTF-8 or an over-long line: a
//! child whose stderr pipe closed early would die of EPIPE on its next write.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::scrub::Scrubber;

/// Longest stderr line that is logged; the rest of the line is dropped.
pub(crate) const MAX_LINE: usize = 2000;

/// Logs every line of `stream` until it closes.
pub(crate) async fn forward(domain: String, stream: impl AsyncRead + Unpin, scrubber: Scrubber) {
    let mut reader = BufReader::new(stream);
    let mut line: Vec<u8> = Vec::new();
    let mut overflow = false;
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let (used, end_of_line) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        let take = used.min(room);
        line.extend_from_slice(&chunk[..take]);
        overflow |= take < used && !(end_of_line && take + 1 == used);
        reader.consume(used);
        if end_of_line {
            emit(&domain, &line, overflow, &scrubber);
            line.clear();
            overflow = false;
        }
    }
    if !line.is_empty() {
        emit(&domain, &line, overflow, &scrubber);
    }
}

fn emit(domain: &str, bytes: &[u8], cut: bool, scrubber: &Scrubber) {
    let text = String::from_utf8_lossy(bytes);
    let text = scrubber.scrub(text.trim_end_matches(['\n', '\r']));
    if cut {
        tracing::info!(target: "mcp_gateway::upstream::stderr", domain, truncated = true, "{text}");
    } else {
        tracing::info!(target: "mcp_gateway::upstream::stderr", domain, "{text}");
    }
}
