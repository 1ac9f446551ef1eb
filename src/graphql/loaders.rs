//! Batch loaders, so that nested lists cost one query per level, never one per row. A loader set serves every
//! request of one HTTP worker's pool and caches nothing: concurrent requests' keys share statements.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};

use entity::{apology_letter, dossier_event, feedback, procedure, receipt, sector, supplement_request};

macro_rules! by_dossier {
    ($name:ident, $ent:ident, $seq:expr) => {
        /// Rows of this table by dossier id.
        pub struct $name(pub DatabaseConnection);
        impl Loader<i64> for $name {
            type Value = Vec<$ent::Model>;
            type Error = Arc<DbErr>;
            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                let rows = $ent::Entity::find()
                    .filter($ent::Column::DossierId.is_in(keys.iter().copied()))
                    .order_by_asc($seq)
                    .all(&self.0)
                    .await
                    .map_err(Arc::new)?;
                let mut out: HashMap<i64, Self::Value> = HashMap::new();
                for r in rows {
                    out.entry(r.dossier_id).or_default().push(r);
                }
                Ok(out)
            }
        }
    };
}

by_dossier!(EventsByDossier, dossier_event, dossier_event::Column::Seq);
by_dossier!(SupplementsByDossier, supplement_request, supplement_request::Column::Seq);
by_dossier!(ApologiesByDossier, apology_letter, apology_letter::Column::Seq);
by_dossier!(ReceiptsByDossier, receipt, receipt::Column::Id);

/// Feedback by dossier id.
pub struct FeedbackByDossier(pub DatabaseConnection);
impl Loader<i64> for FeedbackByDossier {
    type Value = Vec<feedback::Model>;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = feedback::Entity::find()
            .filter(feedback::Column::DossierId.is_in(keys.iter().copied()))
            .order_by_asc(feedback::Column::Id)
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        let mut out: HashMap<i64, Self::Value> = HashMap::new();
        for r in rows {
            if let Some(d) = r.dossier_id {
                out.entry(d).or_default().push(r);
            }
        }
        Ok(out)
    }
}

/// Procedures by id.
pub struct Procedures(pub DatabaseConnection);
impl Loader<i64> for Procedures {
    type Value = procedure::Model;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = procedure::Entity::find()
            .filter(procedure::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// Sectors by id.
pub struct Sectors(pub DatabaseConnection);
impl Loader<i64> for Sectors {
    type Value = sector::Model;
    type Error = Arc<DbErr>;
    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let rows = sector::Entity::find()
            .filter(sector::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// The loaders of a connection pool, shared by the requests it serves (cheap to clone). They cache nothing: a
/// batch is one statement for the keys asked, by every request, since the previous batch, sent after all of
/// them were asked (so it sees every write acknowledged before each request). Every key is an id the asking
/// request already read in its scope, so sharing a batch shares no record across scopes.
#[derive(Clone)]
pub struct Loaders(Arc<LoaderSet>);

impl std::ops::Deref for Loaders {
    type Target = LoaderSet;
    fn deref(&self) -> &LoaderSet {
        &self.0
    }
}

/// Every loader.
pub struct LoaderSet {
    pub events: DataLoader<EventsByDossier>,
    pub supplements: DataLoader<SupplementsByDossier>,
    pub apologies: DataLoader<ApologiesByDossier>,
    pub receipts: DataLoader<ReceiptsByDossier>,
    pub feedback: DataLoader<FeedbackByDossier>,
    pub procedures: DataLoader<Procedures>,
    pub sectors: DataLoader<Sectors>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        let d = || db.clone();
        Loaders(Arc::new(LoaderSet {
            events: DataLoader::new(EventsByDossier(d()), tokio::spawn),
            supplements: DataLoader::new(SupplementsByDossier(d()), tokio::spawn),
            apologies: DataLoader::new(ApologiesByDossier(d()), tokio::spawn),
            receipts: DataLoader::new(ReceiptsByDossier(d()), tokio::spawn),
            feedback: DataLoader::new(FeedbackByDossier(d()), tokio::spawn),
            procedures: DataLoader::new(Procedures(d()), tokio::spawn),
            sectors: DataLoader::new(Sectors(d()), tokio::spawn),
        }))
    }
}
