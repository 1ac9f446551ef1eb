//! E-receipts: reads in scope, issuing and cancelling.

use std::collections::HashMap;

use super::policy::Operation;
use super::{ApiError, PageArgs, Service};
use crate::db::lifecycle::{self as lc, NewReceipt};
use crate::db::read::{self, Page};
use crate::domain::DossierCode;
use entity::audit_event::ObjectKind;
use entity::receipt;

/// A receipt with what it belongs to: its dossier's code and unit (a receipt is reachable only through a dossier
/// the caller may read, so the code is theirs to see).
#[derive(Debug, Clone)]
pub struct ReceiptView {
    pub row: receipt::Model,
    pub dossier_code: DossierCode,
    pub unit_id: i64,
}

impl Service<'_> {
    async fn receipt_views(&self, rows: Vec<receipt::Model>) -> Result<Vec<ReceiptView>, ApiError> {
        let ids: Vec<i64> = rows.iter().map(|r| r.dossier_id).collect();
        let dossiers: HashMap<i64, (DossierCode, i64)> = read::dossiers_by_ids(&self.app.db, &ids)
            .await?
            .into_iter()
            .map(|d| (d.id, (d.code, d.unit_id)))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let (code, unit) = dossiers.get(&row.dossier_id).cloned()?;
                Some(ReceiptView { row, dossier_code: code, unit_id: unit })
            })
            .collect())
    }

    /// One receipt of the caller's records.
    pub async fn receipt(&self, series: &str, number: i64) -> Result<Option<ReceiptView>, ApiError> {
        let g = self.grant(Operation::Receipt).await?;
        let scope = &g.scope;
        match self.app.reads.run(|db| async move { read::receipt(&db, scope, series, number).await }).await? {
            Some(r) => Ok(self.receipt_views(vec![r]).await?.pop()),
            None => {
                self.missed(Operation::Receipt, ObjectKind::Receipt, &format!("{series}/{number}"), &g)
                    .await?;
                Ok(None)
            }
        }
    }

    /// The caller's receipts, newest first.
    pub async fn receipts(
        &self,
        f: &read::ReceiptFilter,
        page: PageArgs,
    ) -> Result<Page<ReceiptView>, ApiError> {
        let g = self.grant(Operation::Receipts).await?;
        let scope = &g.scope;
        let p = (self.app.reads)
            .run(|db| async move { read::receipts(&db, scope, f, page.first, page.after).await })
            .await?;
        Ok(Page { items: self.receipt_views(p.items).await?, has_next: p.has_next })
    }

    /// Issues a receipt for a dossier of the caller's scope.
    pub async fn issue_receipt(&self, input: NewReceipt) -> Result<ReceiptView, ApiError> {
        let dossier = input.dossier_code.clone();
        let miss = Some((ObjectKind::Dossier, dossier.as_str()));
        let (row, d) =
            self.write(Operation::IssueReceipt, miss, async |w, _| lc::issue_receipt(w, input).await).await?;
        Ok(ReceiptView { row, dossier_code: d.code, unit_id: d.unit_id })
    }

    /// Cancels a receipt of the caller's scope.
    pub async fn cancel_receipt(
        &self,
        series: &str,
        number: i64,
        reason: String,
        expected: Option<i32>,
    ) -> Result<ReceiptView, ApiError> {
        let key = format!("{series}/{number}");
        let miss = Some((ObjectKind::Receipt, key.as_str()));
        let (row, d) = self
            .write(Operation::CancelReceipt, miss, async |w, _| {
                lc::cancel_receipt(w, series, number, reason, expected).await
            })
            .await?;
        Ok(ReceiptView { row, dossier_code: d.code, unit_id: d.unit_id })
    }
}
