//! When a dossier's receipts count, derived from its receipts whenever they change (one row per dossier with
//! receipts). A receipt counts over `[issued_at, cancelled_at)`; when the union of those intervals is one
//! interval it is stored here (`paid_to` missing: still counting), and the indicators read this row instead of
//! the receipts. When it is several (a receipt cancelled and another issued after a gap), `irregular` is set,
//! the intervals are empty, and the indicators read the receipts themselves: the summaries once, when they are
//! derived, and a report only for the dossiers it reads row by row.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dossier_paid")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub dossier_id: i64,
    /// The dossier's unit, so that an aggregate reads only the rows of its scope.
    pub unit_id: i64,
    pub paid_from: Option<i64>,
    pub paid_to: Option<i64>,
    /// The same for the receipts paid through a portal.
    pub paid_online_from: Option<i64>,
    pub paid_online_to: Option<i64>,
    pub irregular: bool,
    /// The latest instant at which one of the dossier's receipts was issued or cancelled (`i64::MAX` when past
    /// the summarised years): see `dossier_rollup`.
    pub settled_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
