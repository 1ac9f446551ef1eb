//! Dossiers: the public status, reads in scope, and the desk's writes.

use super::policy::Operation;
use super::{ApiError, PageArgs, Service};
use crate::app::StatusChanged;
use crate::db::lifecycle::{self as lc, NewDossier, WriteError};
use crate::db::read::{self, Page};
use crate::domain::time::Micros;
use crate::domain::{DossierCode, DossierStatus};
use entity::audit_event::ObjectKind;
use entity::dossier;

impl Service<'_> {
    /// A dossier's public status (no personal data): anyone who knows its code.
    pub async fn dossier_status(
        &self,
        code: &DossierCode,
    ) -> Result<Option<dossier::PublicStatus>, ApiError> {
        self.grant(Operation::DossierStatus).await?;
        Ok(self.app.public_status(code).await?)
    }

    /// One dossier of the caller's records.
    pub async fn dossier(&self, code: &DossierCode) -> Result<Option<dossier::Model>, ApiError> {
        let g = self.grant(Operation::Dossier).await?;
        // By code through the coalesced lookups, then the scope checked here; a ministry's scope also holds
        // the dossiers of the procedures it announces, which only the database can tell.
        let d = match g.scope.admits_dossier(self.app.dossier_by_code(code).await?) {
            read::Admitted::Yes(d) => Some(*d),
            read::Admitted::No => None,
            read::Admitted::AskTheDatabase => read::dossier(&self.app.db, &g.scope, code).await?,
        };
        if d.is_none() {
            self.missed(Operation::Dossier, ObjectKind::Dossier, code, &g).await?;
        }
        Ok(d)
    }

    /// The caller's dossiers, newest first; with `unit_code`, those of that unit's scope within the caller's.
    pub async fn dossiers(
        &self,
        unit_code: Option<&str>,
        f: &read::DossierFilter,
        page: PageArgs,
    ) -> Result<Page<dossier::Model>, ApiError> {
        let op = Operation::Dossiers;
        let g = self.grant(op).await?;
        let units = self.filter_units(op, unit_code, &g).await;
        let (scope, units, now) = (&g.scope, units.as_ref(), g.now);
        Ok((self.app.reads)
            .run(|db| async move { read::dossiers(&db, scope, units, f, now, page.first, page.after).await })
            .await?)
    }

    fn announce(&self, d: &dossier::Model, status_changed: bool) {
        if let Some(status) = d.status {
            self.app.announce(StatusChanged { code: d.code.clone(), status, status_changed });
        }
    }

    /// Receives a dossier at a desk of the caller's scope.
    pub async fn receive_dossier(&self, input: NewDossier) -> Result<dossier::Model, ApiError> {
        let calendar = self.app.calendar().await?;
        let op = Operation::ReceiveDossier;
        let d = self
            .write(op, None, async |w, g| {
                if !self.unit_in_reach(op, &input.unit_code, g).await {
                    return Err(WriteError::NotFound);
                }
                lc::receive_dossier(w, &self.app.vault, &g.tree, &calendar, input).await
            })
            .await?;
        self.announce(&d, true);
        Ok(d)
    }

    /// Moves a dossier along the allowed transitions.
    pub async fn change_dossier_status(
        &self,
        code: &DossierCode,
        to: DossierStatus,
        note: Option<String>,
        expected: Option<i32>,
    ) -> Result<dossier::Model, ApiError> {
        let op = Operation::ChangeDossierStatus;
        let d = self
            .write(op, Some((ObjectKind::Dossier, code)), async |w, _| {
                lc::change_status(w, code, to, note, expected).await
            })
            .await?;
        self.announce(&d, true);
        Ok(d)
    }

    /// Asks the applicant for documents.
    pub async fn request_supplement(
        &self,
        code: &DossierCode,
        reason: String,
        expected: Option<i32>,
    ) -> Result<dossier::Model, ApiError> {
        let op = Operation::RequestSupplement;
        let d = self
            .write(op, Some((ObjectKind::Dossier, code)), async |w, _| {
                lc::request_supplement(w, code, reason, expected).await
            })
            .await?;
        self.announce(&d, true);
        Ok(d)
    }

    /// Records the applicant's answer to the open supplement request.
    pub async fn answer_supplement(
        &self,
        code: &DossierCode,
        expected: Option<i32>,
    ) -> Result<dossier::Model, ApiError> {
        let op = Operation::AnswerSupplement;
        let d = self
            .write(op, Some((ObjectKind::Dossier, code)), async |w, _| {
                lc::answer_supplement(w, code, expected).await
            })
            .await?;
        self.announce(&d, true);
        Ok(d)
    }

    /// Issues an apology letter with a new appointment.
    pub async fn issue_apology(
        &self,
        code: &DossierCode,
        reason: String,
        new_due_at: Micros,
        expected: Option<i32>,
    ) -> Result<dossier::Model, ApiError> {
        let op = Operation::IssueApology;
        let d = self
            .write(op, Some((ObjectKind::Dossier, code)), async |w, _| {
                lc::issue_apology(w, code, reason, new_due_at, expected).await
            })
            .await?;
        self.announce(&d, false);
        Ok(d)
    }

    /// One event of `dossierChanged`: the changed dossier if the caller may read it at this instant (their token
    /// still valid, the dossier still in their records as the unit tree stands now), else nothing.
    pub async fn dossier_changed(
        &self,
        code: &DossierCode,
        unit_code: Option<&str>,
    ) -> Result<Option<dossier::Model>, ApiError> {
        let op = Operation::DossierChanged;
        let g = self.grant(op).await?;
        let Some(d) = read::dossier(&self.app.db, &g.scope, code).await? else { return Ok(None) };
        let in_filter = unit_code
            .is_none_or(|u| g.tree.by_id(d.unit_id).is_some_and(|du| g.tree.covers(u, &du.code, g.now)));
        Ok(in_filter.then_some(d))
    }

    /// Checks that the caller may subscribe to `dossierChanged` (and that a unit filter lies in their records).
    pub async fn subscribe_dossier_changes(&self, unit_code: Option<&str>) -> Result<(), ApiError> {
        let op = Operation::DossierChanged;
        let g = self.grant(op).await?;
        match unit_code {
            Some(u) if !self.unit_in_reach(op, u, &g).await => Err(ApiError::NotFound),
            _ => Ok(()),
        }
    }
}
