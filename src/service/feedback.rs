//! Feedback: reads in scope, recording and answering.

use std::collections::HashMap;

use super::policy::Operation;
use super::{ApiError, PageArgs, Service};
use crate::db::lifecycle::{self as lc, NewFeedback, WriteError};
use crate::db::read::{self, Page, ReadScope};
use crate::domain::DossierCode;
use entity::audit_event::ObjectKind;
use entity::feedback;

/// A feedback as a caller sees it: with the code of the dossier it concerns only when the caller may read that
/// dossier too (a unit's feedback may concern a dossier handled outside the caller's scope).
#[derive(Debug, Clone)]
pub struct FeedbackView {
    pub row: feedback::Model,
    pub dossier_code: Option<DossierCode>,
}

impl Service<'_> {
    /// Views of `rows` for a caller whose records are `scope`: each with its dossier's code if `scope` holds it.
    pub(super) async fn feedback_views(
        &self,
        scope: &ReadScope,
        rows: Vec<feedback::Model>,
    ) -> Result<Vec<FeedbackView>, ApiError> {
        let ids: Vec<i64> = rows.iter().filter_map(|f| f.dossier_id).collect();
        let codes: HashMap<i64, DossierCode> = if ids.is_empty() {
            HashMap::new()
        } else {
            read::dossier_codes_in(&self.app.db, scope, &ids).await?
        };
        Ok(rows
            .into_iter()
            .map(|row| {
                let dossier_code = row.dossier_id.and_then(|id| codes.get(&id).cloned());
                FeedbackView { row, dossier_code }
            })
            .collect())
    }

    /// One feedback of the caller's records.
    pub async fn feedback(&self, code: &str) -> Result<Option<FeedbackView>, ApiError> {
        let g = self.grant(Operation::Feedback).await?;
        let scope = &g.scope;
        match self.app.reads.run(|db| async move { read::feedback(&db, scope, code).await }).await? {
            Some(row) => Ok(self.feedback_views(&g.scope, vec![row]).await?.pop()),
            None => {
                self.missed(Operation::Feedback, ObjectKind::Feedback, code, &g).await?;
                Ok(None)
            }
        }
    }

    /// The caller's feedback, newest first; with `unit_code`, that of that unit's scope within the caller's.
    pub async fn feedbacks(
        &self,
        unit_code: Option<&str>,
        f: &read::FeedbackFilter,
        page: PageArgs,
    ) -> Result<Page<FeedbackView>, ApiError> {
        let op = Operation::Feedbacks;
        let g = self.grant(op).await?;
        let units = self.filter_units(op, unit_code, &g).await;
        let (scope, units) = (&g.scope, units.as_ref());
        let p = (self.app.reads)
            .run(|db| async move { read::feedbacks(&db, scope, units, f, page.first, page.after).await })
            .await?;
        Ok(Page { items: self.feedback_views(&g.scope, p.items).await?, has_next: p.has_next })
    }

    /// Records feedback. Staff record for units of their scope; a citizen on their own dossiers, without a due
    /// time (the rules derive it; staff may only shorten it).
    pub async fn record_feedback(&self, mut input: NewFeedback) -> Result<FeedbackView, ApiError> {
        input.recorded_by = self.caller.sub().map(str::to_owned);
        let op = Operation::RecordFeedback;
        let dossier = input.dossier_code.clone();
        let miss = dossier.as_deref().map(|c| (ObjectKind::Dossier, c));
        let calendar = self.app.calendar().await?;
        let (row, dossier_code) = self
            .write(op, miss, async |w, g| {
                if matches!(g.scope, ReadScope::Applicant(_)) {
                    if input.dossier_code.is_none() {
                        let why = "a citizen gives feedback on one of their dossiers: give dossierCode";
                        return Err(WriteError::Validation(why.into()));
                    }
                    if input.due_at.is_some() {
                        let why = "dueAt follows from the rules; citizens do not set it";
                        return Err(WriteError::Validation(why.into()));
                    }
                }
                if !self.unit_in_reach(op, &input.unit_code, g).await {
                    return Err(WriteError::NotFound);
                }
                lc::record_feedback(w, &self.app.vault, &g.tree, &calendar, input).await
            })
            .await?;
        Ok(FeedbackView { row, dossier_code })
    }

    /// Answers feedback of the caller's records.
    pub async fn answer_feedback(
        &self,
        code: &str,
        answer: String,
        expected: Option<i32>,
    ) -> Result<FeedbackView, ApiError> {
        let op = Operation::AnswerFeedback;
        let miss = Some((ObjectKind::Feedback, code));
        let (row, dossier_code) = self
            .write(op, miss, async |w, _| {
                let row = lc::answer_feedback(w, code, answer, expected).await?;
                let code = match row.dossier_id {
                    Some(id) => read::dossier_codes_in(w.db, w.scope, &[id]).await?.remove(&id),
                    None => None,
                };
                Ok((row, code))
            })
            .await?;
        Ok(FeedbackView { row, dossier_code })
    }
}
