//! `kms-import-mock-endpoint`: the endpoint (`kms-api`), which `kms-import-mock` starts behind
//! itself; alone, it serves without the sidecar's checks.

fn main() {
    kms_api::main("kms-import-mock-endpoint")
}
