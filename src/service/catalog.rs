//! Public reference data: the caller's own identity, the procedure catalog, sectors and units.

use super::policy::Operation;
use super::{ApiError, PageArgs, Service};
use crate::db::read::{self, Page};
use crate::domain::UnitLevel;
use crate::domain::scope::UnitInfo;

impl Service<'_> {
    /// Who the caller is (anyone may ask).
    pub async fn viewer(&self) -> Result<(), ApiError> {
        self.grant(Operation::Viewer).await.map(drop)
    }

    /// The catalog, in catalog order; with `authority_code`, the procedures that unit announced.
    pub async fn procedures(
        &self,
        authority_code: Option<&str>,
        f: &read::ProcedureFilter,
        page: PageArgs,
    ) -> Result<Page<entity::procedure::Model>, ApiError> {
        self.grant(Operation::Procedures).await?;
        let authority_id = match authority_code {
            Some(code) => Some(self.app.units().await?.get(code).map_or(-1, |u| u.id)),
            None => None,
        };
        Ok(read::procedures(&self.app.db, authority_id, f, page.first, page.after).await?)
    }

    /// One procedure.
    pub async fn procedure(&self, code: &str) -> Result<Option<entity::procedure::Model>, ApiError> {
        self.grant(Operation::Procedure).await?;
        Ok(read::procedure_by_code(&self.app.db, code).await?)
    }

    /// Every sector.
    pub async fn sectors(&self) -> Result<Vec<entity::sector::Model>, ApiError> {
        self.grant(Operation::Sectors).await?;
        Ok(read::sectors(&self.app.db).await?)
    }

    /// Units by level and parent.
    pub async fn units(
        &self,
        level: Option<UnitLevel>,
        parent_code: Option<&str>,
    ) -> Result<Vec<UnitInfo>, ApiError> {
        self.grant(Operation::Units).await?;
        let tree = self.app.units().await?;
        Ok(tree
            .all()
            .iter()
            .filter(|u| level.is_none_or(|l| u.level == l))
            .filter(|u| parent_code.is_none_or(|p| u.parent_code.as_deref() == Some(p)))
            .cloned()
            .collect())
    }

    /// One unit.
    pub async fn unit(&self, code: &str) -> Result<Option<UnitInfo>, ApiError> {
        self.grant(Operation::Unit).await?;
        Ok(self.app.units().await?.get(code).cloned())
    }
}
