//! Direct-invoke GetParametersForImport, for event-driven pipelines (Step Functions,
//! EventBridge, `sam local invoke -e`, `cargo lambda invoke`): the event is the request JSON,
//! the result the response JSON with base64 blobs. A refusal comes back as a Lambda error whose
//! `errorType` is the KMS error type (`NotFoundException`, ...) and `errorMessage` its text.

use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use serde_json::value::RawValue;
use shared::Config;
use shared::KmsError;
use shared::Operation;
use shared::{App, exit_unstarted, exit_with};

fn main() {
    const NAME: &str = "get-parameters-for-import";
    let config = Config::from_env().unwrap_or_else(|e| exit_unstarted(NAME, e));
    config.init_logging();
    let runtime = shared::runtime(&config);
    let result = runtime.block_on(async {
        let app = Arc::new(
            App::start(&config)
                .await
                .unwrap_or_else(|e| exit_unstarted(NAME, e)),
        );
        let result = lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
            let app = app.clone();
            async move { handle(&app, event.payload).await }
        }))
        .await;
        app.stop().await;
        result
    });
    exit_with(NAME, result);
}

async fn handle(app: &App, event: Value) -> Result<Box<RawValue>, Diagnostic> {
    let endpoint = &app.endpoint;
    let ctx = endpoint
        .request_context(&http::HeaderMap::new(), None)
        .map_err(|e| diagnostic(&e))?;
    let body = serde_json::to_vec(&event).map_err(|e| diagnostic(&KmsError::internal(e)))?;
    let out = endpoint
        .kms
        .call(&ctx, Operation::GetParametersForImport, &body)
        .await
        .map_err(|e| diagnostic(&e))?;
    // The service's bytes as they are, so timestamps keep KMS's number form.
    RawValue::from_string(String::from_utf8(out).map_err(|e| diagnostic(&KmsError::internal(e)))?)
        .map_err(|e| diagnostic(&KmsError::internal(e)))
}

fn diagnostic(e: &KmsError) -> Diagnostic {
    Diagnostic {
        error_type: e.code.wire_name().to_string(),
        error_message: e.message().unwrap_or_default().to_string(),
    }
}
