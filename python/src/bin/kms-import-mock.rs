//! `kms-import-mock`: the README's run mode, the policy sidecar in front of the endpoint it
//! starts from beside itself.

fn main() {
    policy_sidecar::main("kms-import-mock-endpoint")
}
