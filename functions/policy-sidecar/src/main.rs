//! `policy-sidecar`: see the library's documentation.

fn main() {
    policy_sidecar::main("kms-api")
}
