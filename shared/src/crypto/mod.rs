//! Cryptography, on aws-lc-rs, and on RustCrypto for the SM algorithms of the China Regions
//! (`sm2`, SM4 in `envelope`), which aws-lc lacks.

pub mod asymmetric;
mod ed25519ph;
pub mod envelope;
pub mod mac;
pub mod material;
pub mod pkcs8;
pub mod rsa_keys;
pub mod seal;
pub mod signing;
pub mod sm2;
pub mod unwrap;

/// Fills `out` with random bytes from the operating system's generator (through AWS-LC).
pub fn fill_random(out: &mut [u8]) {
    aws_lc_rs::rand::fill(out).expect("system random generator");
}

/// `bytes` random bytes in lowercase hex: names no other process can guess or repeat.
pub fn random_hex(bytes: usize) -> String {
    let mut out = vec![0u8; bytes];
    fill_random(&mut out);
    hex::encode(out)
}

/// The first 8 bytes of the SHA-256 of `bytes`: names a key (its public key) in a journal.
pub fn fingerprint(bytes: &[u8]) -> [u8; 8] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0; 8];
    out.copy_from_slice(&digest.as_ref()[..8]);
    out
}

/// Pays aws-lc's one-time cost of seeding its random generator (about 38 ms here) at start-up,
/// so that the first request that needs randomness does not.
pub fn warm_up() {
    let _ = seal::random_secret();
}
