//! Whole answers to anonymous queries that ask only indicator reports of settled windows (a closed period, or
//! an explicit `asOf` in the past), kept as the bytes sent, with the scope versions they were computed from.
//!
//! Such an answer is a function of the request's text (query, operation name, variables) and of the data
//! versions of the scopes its reports read: nothing else enters a report of a window that does not move with
//! the clock. A request with the same text is answered with the same bytes, without parsing, validating or
//! executing it, when every one of those versions is the one the instance remembers now
//! ([`crate::app::App::remembered_version`]: only while writers wait for it, see [`crate::db::freshness`]); any
//! write in one of the scopes, or a lease lost, sends the request down the whole path again, which replaces the
//! answer. Tokens, mutations, errors, live windows and any other root field are never kept.

use std::sync::Arc;

use actix_web::web::Bytes;
use async_graphql::parser::types::{OperationDefinition, OperationType, Selection};

use crate::app::App;
use crate::db::DataVersion;
pub use crate::graphql::indicators::AnswerBasis;

/// How many bytes of answers (and their keys) an instance keeps.
const ANSWERS_BYTES: u64 = 16 << 20;

/// A kept answer.
pub struct Answer {
    pub body: Bytes,
    /// The scopes (by key) and versions its reports were computed at.
    basis: Vec<(String, DataVersion)>,
    /// Its weight for the per-address rate limit.
    pub public_weight: u32,
}

/// The kept answers of an instance (shared by its workers).
#[derive(Clone)]
pub struct Answers(moka::future::Cache<Arc<str>, Arc<Answer>>);

impl Default for Answers {
    fn default() -> Self {
        Answers(
            moka::future::Cache::builder()
                .weigher(|k: &Arc<str>, a: &Arc<Answer>| {
                    u32::try_from(k.len() + a.body.len() + 64 * a.basis.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(ANSWERS_BYTES)
                .build(),
        )
    }
}

/// The text that names a request's answer.
pub fn key(request: &async_graphql::Request) -> Option<Arc<str>> {
    if !request.extensions.is_empty() {
        return None;
    }
    let variables = serde_json::to_string(&request.variables).ok()?;
    let name = request.operation_name.as_deref().unwrap_or_default();
    Some(format!("{}\u{0}{name}\u{0}{variables}", request.query).into())
}

impl Answers {
    /// The answer kept under `key`, if every version it was computed at is the one `app` remembers now.
    pub async fn get(&self, app: &App, key: &Arc<str>) -> Option<Arc<Answer>> {
        let answer = self.0.get(key).await?;
        answer.basis.iter().all(|(scope, v)| app.remembered_version(scope) == Some(*v)).then_some(answer)
    }

    /// Keeps `body` under `key` when what the request asked and what its resolvers noted allow it.
    pub async fn keep(&self, key: Arc<str>, body: Bytes, basis: &AnswerBasis, public_weight: u32) {
        let Some(basis) = basis.taken() else { return };
        if basis.is_empty() {
            return;
        }
        self.0.insert(key, Arc::new(Answer { body, basis, public_weight })).await;
    }
}

/// Whether an answer to operation `op` may be kept: a query whose every root field is `indicators` (or
/// `__typename`), without fragments.
pub fn keepable(op: &OperationDefinition) -> bool {
    op.ty == OperationType::Query
        && op.selection_set.node.items.iter().all(|s| match &s.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "indicators" | "__typename"),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> async_graphql::parser::types::ExecutableDocument {
        async_graphql::parser::parse_query(text).expect("parses")
    }

    /// Whether the answer to `doc`'s operation `name` (as the edge chooses it) may be kept.
    fn keeps(doc: &async_graphql::parser::types::ExecutableDocument, name: Option<&str>) -> bool {
        crate::http::chosen_operation(doc, name).is_some_and(keepable)
    }

    #[test]
    fn only_queries_of_indicator_reports_are_kept() {
        let report = "indicators(unitCode: \"49\", period: { year: 2024 }) { total }";
        assert!(keeps(&doc(&format!("{{ {report} }}")), None));
        assert!(keeps(&doc(&format!("{{ a: {report} b: {report} __typename }}")), None));
        assert!(!keeps(&doc(&format!("{{ {report} dossierStatus(code: \"x\") {{ status }} }}")), None));
        assert!(!keeps(&doc(&format!("{{ ...F }} fragment F on Query {{ {report} }}")), None));
        assert!(!keeps(&doc(&format!("{{ ... on Query {{ {report} }} }}")), None));
        assert!(!keeps(&doc("mutation { recordFeedback { code } }"), None));
        let two =
            doc(&format!("query A {{ {report} }} query B {{ dossierStatus(code: \"x\") {{ status }} }}"));
        assert!(keeps(&two, Some("A")));
        assert!(!keeps(&two, Some("B")));
        assert!(!keeps(&two, Some("C")));
    }

    #[test]
    fn the_key_holds_the_text_the_operation_and_the_variables() {
        let r = |vars: serde_json::Value| {
            async_graphql::Request::new("query Q($u: String!) { indicators(unitCode: $u) { total } }")
                .variables(async_graphql::Variables::from_json(vars))
        };
        assert_ne!(key(&r(serde_json::json!({"u": "49"}))), key(&r(serde_json::json!({"u": "48"}))));
        assert_eq!(key(&r(serde_json::json!({"u": "49"}))), key(&r(serde_json::json!({"u": "49"}))));
        assert_ne!(key(&r(serde_json::json!({}))), key(&r(serde_json::json!({})).operation_name("Q")));
    }
}
