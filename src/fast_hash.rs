//! The hasher of the gateway's own hash maps: foldhash, seeded per process.

/// foldhash with a random seed per process (hashbrown's own default): several times cheaper
/// than the standard library's SipHash on short keys. For keys that come from upstreams (tool
/// names, terms) or from the gateway itself (session ids); maps keyed by what a client chooses
/// (request ids) keep SipHash, whose keyed resistance to planned collisions foldhash does not
/// claim against an attacker who can probe.
pub type FastHash = foldhash::fast::RandomState;
