//! The hasher of the gateway's own hash maps: foldhash, seeded per process.

/// foldhash with a random seed per process: several times cheaper than the standard library's
/// SipHash on the short keys the gateway hashes (session ids, request ids, tool names and
/// terms), and its keys (from clients and upstreams) cannot be chosen to collide without the
/// seed. hashbrown's own default.
pub type FastHash = foldhash::fast::RandomState;
