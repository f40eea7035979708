//! Any policy document: parsing refuses it or yields a policy that evaluates without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::policy::evaluate::{KeyTarget, Request, Resource, evaluate};
use shared::policy::{Caller, Environment, Facts, Policy, PolicyKind};
use shared::Operation;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let caller = Caller::from_arn("arn:aws:iam::111122223333:user/alice").unwrap();
    let env = Environment { source_ip: Some("10.0.0.1"), epoch_seconds: 1_795_503_231, region: "us-east-1", secure_transport: false };
    let mut facts = Facts::new(&caller, &env);
    facts.add_request(Operation::GetParametersForImport, &serde_json::json!({"KeyId": "alias/x", "WrappingKeySpec": "RSA_4096"}));
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        if let Ok(policy) = Policy::parse(text, kind) {
            let req = Request {
                caller: &caller,
                action: "kms:GetParametersForImport",
                resource: Resource::Key(KeyTarget { arn: "arn:aws:kms:us-east-1:111122223333:key/k", account: "111122223333", policy: &policy }),
                cross_account: false,
                facts: &facts,
            };
            let _ = evaluate(&req, &[]);
        }
    }
});
