//! The size of a tool result, for `max_result_bytes`: measured by serialising it into a byte
//! counter (nothing is allocated, and the result still passes through unchanged).

use std::io::Write;

use rmcp::model::CallToolResponse;

/// Counts bytes written to it.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The serialised size of `response` in bytes.
pub(crate) fn result_bytes(response: &CallToolResponse) -> usize {
    let mut counter = Counter(0);
    let written = match response {
        CallToolResponse::Complete(result) => serde_json::to_writer(&mut counter, result),
        CallToolResponse::InputRequired(result) => serde_json::to_writer(&mut counter, result),
        CallToolResponse::Task(result) => serde_json::to_writer(&mut counter, result),
        // A kind this version does not know: small protocol objects, not content.
        _ => Ok(()),
    };
    // Not serialisable: it could not be sent on anyway; the transport reports that.
    written.map_or(0, |()| counter.0)
}
