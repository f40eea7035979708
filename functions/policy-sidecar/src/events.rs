//! The Extensions API's events, typed as the runtime's own `lambda-extension` crate types
//! them: the extension registers for INVOKE and SHUTDOWN.

use serde::Deserialize;

/// What `GET /2020-01-01/extension/event/next` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "eventType", rename_all = "UPPERCASE")]
pub enum NextEvent {
    Invoke(InvokeEvent),
    Shutdown(ShutdownEvent),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEvent {
    pub request_id: String,
    #[serde(default)]
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownEvent {
    pub shutdown_reason: String,
    #[serde(default)]
    pub deadline_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_as_the_extensions_api_sends_them() {
        let invoke: NextEvent = serde_json::from_str(
            r#"{"eventType":"INVOKE","deadlineMs":1700000000000,"requestId":"r-1","invokedFunctionArn":"arn:aws:lambda:us-east-1:111122223333:function:f","tracing":{"type":"X-Amzn-Trace-Id","value":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            invoke,
            NextEvent::Invoke(InvokeEvent {
                request_id: "r-1".into(),
                deadline_ms: 1_700_000_000_000
            })
        );
        let shutdown: NextEvent = serde_json::from_str(
            r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1}"#,
        )
        .unwrap();
        assert!(
            matches!(shutdown, NextEvent::Shutdown(ShutdownEvent { ref shutdown_reason, .. }) if shutdown_reason == "spindown")
        );
        assert!(serde_json::from_str::<NextEvent>(r#"{"eventType":"OTHER"}"#).is_err());
    }
}
