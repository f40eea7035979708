//! Cryptography, all of it on aws-lc-rs.

pub mod seal;

/// Pays aws-lc's one-time cost of seeding its random generator (about 38 ms here) at start-up,
/// so that the first request that needs randomness does not.
pub fn warm_up() {
    let _ = seal::random_secret();
}
