//! Errors as Graph and Entra send them.
//!
//! A client is written against the bodies it sees, so the tenant must send the real shapes:
//! Graph's `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`
//! (with `details` for conflicts) and Entra's token-endpoint shape
//! (`error`, `error_description` starting with `AADSTSnnnn:`, `error_codes`, ...).
//!
//! Every Graph error in the tenant is made by [`GraphError::new`]; the named constructors
//! below hold the exact phrases Graph uses, so each phrase is written once.

use serde_json::{Value, json};

/// One entry of Graph's `details` array (conflicts name the property in `target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    pub target: String,
}

/// A Graph error response: status, code, message and optional details and Retry-After.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Vec<ErrorDetail>,
    /// Seconds, sent as the `Retry-After` header (429 and 503).
    pub retry_after: Option<u64>,
}

/// The ids an error body's `innerError` repeats.
#[derive(Debug, Clone)]
pub struct ErrorContext<'a> {
    pub request_id: &'a str,
    pub client_request_id: &'a str,
    /// `2024-05-01T12:00:00`: Graph's innerError date has no zone suffix.
    pub date: String,
}

impl GraphError {
    /// The one constructor every Graph error goes through.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> GraphError {
        GraphError { status, code: code.to_string(), message: message.into(), details: Vec::new(), retry_after: None }
    }

    pub fn with_detail(mut self, code: &str, target: &str) -> GraphError {
        let message = self.message.clone();
        self.details.push(ErrorDetail { code: code.to_string(), message, target: target.to_string() });
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> GraphError {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 `Request_BadRequest`: the directory's own refusals.
    pub fn bad_request(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "Request_BadRequest", message)
    }

    /// 400 `BadRequest`: the OData layer's refusals (syntax, types, unknown segments).
    pub fn odata(message: impl Into<String>) -> GraphError {
        GraphError::new(400, "BadRequest", message)
    }

    /// A body that is not JSON (or not the JSON object expected).
    pub fn unreadable_body() -> GraphError {
        GraphError::odata(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    }

    /// 404 for an object (or reference) that does not exist, is deleted, or has not replicated yet.
    pub fn not_found(what: &str) -> GraphError {
        GraphError::new(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 400 with an `ObjectConflict` detail: the value of a unique property is taken.
    pub fn conflict(property: &str) -> GraphError {
        GraphError::bad_request(format!("Another object with the same value for property {property} already exists."))
            .with_detail("ObjectConflict", property)
    }

    /// 400 for a value that breaks a length, character or shape rule.
    pub fn invalid_value(property: &str, resource: &str) -> GraphError {
        GraphError::bad_request(format!("Invalid value specified for property '{property}' of resource '{resource}'."))
            .with_detail("InvalidValue", property)
    }

    /// 400 for a required property that is absent (or null).
    pub fn required(property: &str, resource: &str) -> GraphError {
        GraphError::bad_request(format!("Property '{property}' is required when creating the resource '{resource}'."))
            .with_detail("MissingValue", property)
    }

    /// 400 for a property the type does not declare (directory objects are open types, so
    /// Graph says "declared property or extension property").
    pub fn unknown_property(property: &str) -> GraphError {
        GraphError::bad_request(format!(
            "Property '{property}' does not exist as a declared property or extension property."
        ))
    }

    /// 400 for a property that exists but cannot be written.
    pub fn read_only(property: &str) -> GraphError {
        GraphError::bad_request(format!("Property '{property}' is read-only and cannot be set."))
    }

    /// 400 `BadRequest` for a JSON value of the wrong kind, as the OData reader words it.
    pub fn wrong_type(value: &str, expected: &str) -> GraphError {
        GraphError::odata(format!("Cannot convert the literal '{value}' to the expected type '{expected}'."))
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn unauthenticated(message: &str) -> GraphError {
        GraphError::new(401, "InvalidAuthenticationToken", message)
    }

    /// 403 for what the app's permissions do not allow.
    pub fn forbidden() -> GraphError {
        GraphError::new(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    }

    /// 429 from the throttling budgets or the fault injector.
    pub fn throttled(retry_after: u64) -> GraphError {
        GraphError::new(429, "TooManyRequests", "Too many requests. Please retry again later.")
            .with_retry_after(retry_after)
    }

    /// 503 from the fault injector.
    pub fn unavailable(retry_after: u64) -> GraphError {
        GraphError::new(503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry again later.")
            .with_retry_after(retry_after)
    }

    /// A path the tenant does not serve (Graph's wording for an unknown segment).
    pub fn unknown_segment(segment: &str) -> GraphError {
        GraphError::odata(format!("Resource not found for the segment '{segment}'."))
    }

    /// A method a path does not support.
    pub fn method_not_allowed(method: &str) -> GraphError {
        GraphError::new(
            405,
            "Request_BadRequest",
            format!("The HTTP method '{method}' is not supported for this resource."),
        )
    }

    /// A Graph feature the test tenant does not implement (refused rather than half-done).
    pub fn not_supported_here(what: &str) -> GraphError {
        GraphError::odata(format!("{what} is not supported by the samla test tenant."))
    }

    /// The JSON body Graph sends for this error.
    pub fn body(&self, ctx: &ErrorContext<'_>) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": ctx.date,
                "request-id": ctx.request_id,
                "client-request-id": ctx.client_request_id,
            }
        });
        if !self.details.is_empty() {
            let details: Vec<Value> = self
                .details
                .iter()
                .map(|d| json!({"code": d.code, "message": d.message, "target": d.target}))
                .collect();
            error["details"] = Value::Array(details);
        }
        json!({ "error": error })
    }
}

/// An error of the token endpoint, in Entra's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub status: u16,
    /// The OAuth2 error (`invalid_client`, `invalid_request`, ...).
    pub error: &'static str,
    /// The AADSTS number.
    pub aadsts: u32,
    pub description: String,
}

impl EntraError {
    pub fn new(status: u16, error: &'static str, aadsts: u32, description: impl Into<String>) -> EntraError {
        EntraError { status, error, aadsts, description: description.into() }
    }

    pub fn missing_parameter(name: &str) -> EntraError {
        EntraError::new(
            400,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// The body Entra sends: the description carries the trace and correlation ids and time.
    pub fn body(&self, trace_id: &str, correlation_id: &str, now: chrono::DateTime<chrono::Utc>) -> Value {
        let stamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {stamp}",
                self.aadsts, self.description
            ),
            "error_codes": [self.aadsts],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.aadsts),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_body_has_graph_shape() {
        let ctx = ErrorContext { request_id: "r", client_request_id: "c", date: "2024-01-01T00:00:00".into() };
        let body = GraphError::conflict("userPrincipalName").body(&ctx);
        assert_eq!(body["error"]["code"], "Request_BadRequest");
        assert_eq!(
            body["error"]["message"],
            "Another object with the same value for property userPrincipalName already exists."
        );
        assert_eq!(body["error"]["details"][0]["target"], "userPrincipalName");
        assert_eq!(body["error"]["details"][0]["code"], "ObjectConflict");
        assert_eq!(body["error"]["innerError"]["request-id"], "r");
        assert_eq!(body["error"]["innerError"]["client-request-id"], "c");
    }

    #[test]
    fn entra_body_names_the_aadsts_code() {
        let e = EntraError::new(401, "invalid_client", 7000215, "Invalid client secret provided.");
        let body = e.body("t", "c", chrono::Utc::now());
        assert_eq!(body["error_codes"][0], 7000215);
        assert!(
            body["error_description"].as_str().unwrap().starts_with("AADSTS7000215: Invalid client secret provided.")
        );
    }
}
