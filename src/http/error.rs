//! The codes of the errors that would otherwise reach a client without `extensions.code`, decided in this
//! one place (the README's table lists every code a client can see):
//! - async-graphql reports a query that does not parse, does not fit the schema or exceeds a limit, and an
//!   argument value that does not parse, without a code: [`uncoded`] names the code from the stage that
//!   failed, for HTTP ([`add_codes`]) and for WebSocket messages ([`add_codes_json`]);
//! - actix-web answers some requests by itself (an unknown path, a method a route does not take, a body over
//!   the limit, a failed WebSocket handshake) with a body that is not JSON: [`json_errors`] rewrites those
//!   into the same `{"errors": [{"message", "extensions": {"code"}}]}` shape.
//!
//! The service's errors carry their codes from [`ApiError::code`](crate::service::ApiError::code), and the
//! edge's own refusals (tokens, GET mutations, media types) name theirs where they are answered.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};

/// The query is not GraphQL.
pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
/// The query does not fit the schema (an unknown field or argument, a wrong type, a missing operation name).
pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub use crate::graphql::error::LIMIT;
pub use crate::graphql::error::TIMEOUT;

/// The answer to a request stopped at its timeout (the HTTP edge's own bound, around parsing and pricing too).
pub fn timed_out(limit: std::time::Duration) -> async_graphql::Response {
    async_graphql::Response::from_errors(vec![crate::graphql::timeout::timed_out(limit)])
}
/// An argument's value does not parse (a malformed date): the service's code for input that breaks a rule.
pub const VALIDATION: &str = "VALIDATION";

/// What the HTTP edge refuses by itself, before a request reaches the schema, each with its status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    /// A token that fails a check (the reason is the verifier's, safe to show).
    #[error("{0}")]
    Unauthenticated(String),
    /// The unit tree could not be read to check a token.
    #[error("the service is unavailable; try again")]
    Unavailable,
    #[error("only queries may be sent with GET; use POST")]
    MutationByGet,
    #[error("send a JSON body with Content-Type: application/json")]
    NotJson,
    #[error("the body is not a GraphQL request in JSON")]
    NotGraphqlJson,
    #[error("GET needs a `query` parameter")]
    NoQuery,
    #[error("`variables` must be JSON")]
    VariablesNotJson,
    #[error("use the graphql-transport-ws subprotocol")]
    NoSubprotocol,
    /// The request failed on the server's side (a panic while it ran): the cause is logged under its request id.
    #[error("internal error")]
    Internal,
    /// Over a rate limit; the number is the seconds until the window ends.
    #[error("too many requests; try again in {0} s")]
    RateLimited(u64),
}

impl EdgeError {
    pub fn status(&self) -> StatusCode {
        match self {
            EdgeError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            EdgeError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            EdgeError::MutationByGet => StatusCode::METHOD_NOT_ALLOWED,
            EdgeError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EdgeError::NotGraphqlJson
            | EdgeError::NoQuery
            | EdgeError::VariablesNotJson
            | EdgeError::NoSubprotocol => StatusCode::BAD_REQUEST,
            EdgeError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            EdgeError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::Unauthenticated(_) => "UNAUTHENTICATED",
            EdgeError::Unavailable => "UNAVAILABLE",
            EdgeError::MutationByGet => "METHOD_NOT_ALLOWED",
            EdgeError::NotJson => "UNSUPPORTED_MEDIA_TYPE",
            EdgeError::NotGraphqlJson
            | EdgeError::NoQuery
            | EdgeError::VariablesNotJson
            | EdgeError::NoSubprotocol => "BAD_REQUEST",
            EdgeError::Internal => "INTERNAL",
            EdgeError::RateLimited(_) => "RATE_LIMITED",
        }
    }

    /// The answer, in the media type the request asked for, with the headers its status calls for.
    pub fn respond(&self, req: &actix_web::HttpRequest) -> actix_web::HttpResponse {
        let mut r = super::request_error(req, self.status(), &self.to_string(), self.code());
        match self {
            EdgeError::Unauthenticated(_) => {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            }
            EdgeError::MutationByGet => {
                r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            }
            EdgeError::RateLimited(secs) => {
                r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(*secs));
            }
            _ => {}
        }
        r
    }
}

/// How async-graphql words the limits it enforces before execution.
const LIMIT_MESSAGES: [&str; 4] = [
    "Query is nested too deep",
    "Query is too complex",
    "The number of directives on the field",
    "The recursion depth of the query",
];

/// The code of an error reported without one: `parsed` whether the query parsed, `executing` whether the
/// error arose while executing a field (it then has a path).
pub fn uncoded(parsed: bool, executing: bool, message: &str) -> &'static str {
    if !parsed {
        GRAPHQL_PARSE_FAILED
    } else if executing {
        // The resolvers give every error a code; what comes without one is an argument value that the schema
        // accepted by its type but that did not parse.
        VALIDATION
    } else if LIMIT_MESSAGES.iter().any(|m| message.starts_with(m)) {
        LIMIT
    } else {
        GRAPHQL_VALIDATION_FAILED
    }
}

/// Gives each error of `response` without a code its code.
pub fn add_codes(response: &mut async_graphql::Response, parsed: bool) {
    for e in &mut response.errors {
        if e.extensions.as_ref().and_then(|x| x.get("code")).is_none() {
            let code = uncoded(parsed, !e.path.is_empty(), &e.message);
            e.extensions.get_or_insert_with(Default::default).set("code", code);
        }
    }
}

/// Gives each error without a code in a list of errors as JSON (a `graphql-transport-ws` message's) its code.
pub fn add_codes_json(errors: &mut [serde_json::Value], parsed: bool) {
    for e in errors {
        let Some(e) = e.as_object_mut() else { continue };
        let executing = e.get("path").and_then(|p| p.as_array()).is_some_and(|p| !p.is_empty());
        let message = e.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
        let extensions = e.entry("extensions").or_insert_with(|| serde_json::json!({}));
        if let Some(x) = extensions.as_object_mut()
            && !x.contains_key("code")
        {
            x.insert("code".into(), uncoded(parsed, executing, &message).into());
        }
    }
}

/// The middleware that turns the error responses actix-web makes by itself into JSON errors with a code.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(fill_in)
}

/// Leaves a JSON error as it is (the edge's own, with its code); replaces any other body.
fn fill_in<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with(super::GRAPHQL_RESPONSE));
    if json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, res) = res.into_parts();
    let status = res.status();
    let (message, code) = describe(status);
    let mut answer = super::request_error(&req, status, message, &code);
    for name in [header::ALLOW, header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name) {
            answer.headers_mut().insert(name, v.clone());
        }
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, answer).map_into_right_body()))
}

/// The message and code of an error status.
fn describe(status: StatusCode) -> (&'static str, String) {
    let (message, code) = match status {
        StatusCode::BAD_REQUEST => ("bad request", "BAD_REQUEST"),
        StatusCode::NOT_FOUND => ("no such path; GraphQL is served at /graphql", "NOT_FOUND"),
        StatusCode::METHOD_NOT_ALLOWED => ("this path does not take this method", "METHOD_NOT_ALLOWED"),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("the body is larger than the limit (MAX_BODY_BYTES)", "PAYLOAD_TOO_LARGE")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported media type", "UNSUPPORTED_MEDIA_TYPE"),
        StatusCode::SERVICE_UNAVAILABLE => ("the service is unavailable; try again", "UNAVAILABLE"),
        s if s.is_server_error() => ("internal error", "INTERNAL"),
        // Any other status: its reason phrase in capitals (`URI_TOO_LONG`).
        s => {
            let reason = s.canonical_reason().unwrap_or("error");
            return (reason, reason.to_ascii_uppercase().replace([' ', '-'], "_"));
        }
    };
    (message, code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_has_its_code() {
        assert_eq!(uncoded(false, false, "expected selection"), GRAPHQL_PARSE_FAILED);
        assert_eq!(uncoded(true, false, "Unknown field \"x\" on type \"Query\"."), GRAPHQL_VALIDATION_FAILED);
        assert_eq!(uncoded(true, false, "Query is nested too deep."), LIMIT);
        assert_eq!(uncoded(true, false, "Query is too complex."), LIMIT);
        assert_eq!(uncoded(true, true, "Failed to parse \"Date\": expected YYYY-MM-DD"), VALIDATION);
    }

    #[test]
    fn other_statuses_are_named_by_their_reason() {
        assert_eq!(describe(StatusCode::URI_TOO_LONG).1, "URI_TOO_LONG");
        assert_eq!(describe(StatusCode::PAYLOAD_TOO_LARGE).1, "PAYLOAD_TOO_LARGE");
        assert_eq!(describe(StatusCode::BAD_GATEWAY).1, "INTERNAL");
    }

    #[test]
    fn json_errors_keep_their_codes() {
        let mut errors = vec![
            serde_json::json!({"message": "Unknown field", "locations": []}),
            serde_json::json!({"message": "not found", "path": ["dossier"], "extensions": {"code": "NOT_FOUND"}}),
            serde_json::json!({"message": "Failed to parse", "path": ["x"]}),
        ];
        add_codes_json(&mut errors, true);
        let codes: Vec<&str> = errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [GRAPHQL_VALIDATION_FAILED, "NOT_FOUND", VALIDATION]);
    }
}
