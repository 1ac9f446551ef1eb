//! The services one gateway process shares between requests: the database, the unit tree kept in step with
//! the data generation, the personal-data vault, the token verifier, the audit trail's writer and the
//! status-change feed.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{RwLock, broadcast};

use crate::audit::AuditLog;
use crate::auth::{AuthError, Caller, Verified, Verifier};
use crate::cache::AggregateCache;
use crate::config::Settings;
use crate::db;
use crate::db::shared_reads::SharedReads;
use crate::domain::indicators::Scored;
use crate::domain::scope::{Scope, UnitTree};
use crate::domain::time::Calendar;
use crate::domain::{DossierCode, DossierStatus};
use crate::pii::Vault;

/// Why the services could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Key(#[from] crate::auth::KeyError),
    #[error("REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Why a request could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum Authentication {
    /// The token is refused (401).
    #[error(transparent)]
    Refused(#[from] AuthError),
    /// The unit tree could not be read to check the token's unit (503: the caller may retry).
    #[error("the database is unavailable")]
    Unavailable(#[from] DbErr),
}

/// A dossier changed through this instance's API (sent to `dossierChanged` subscribers, and to
/// `dossierStatusChanged` subscribers when its status changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChanged {
    pub code: DossierCode,
    pub status: DossierStatus,
    pub status_changed: bool,
}

/// Reference data loaded at one data generation.
struct Snapshot {
    generation: i64,
    units: Arc<UnitTree>,
    calendar: Arc<Calendar>,
}

/// Everything a request handler needs.
#[derive(Clone)]
pub struct App {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub vault: Vault,
    pub verifier: Arc<Verifier>,
    pub status_feed: broadcast::Sender<StatusChanged>,
    pub cache: AggregateCache,
    /// Requests per client address and per subject, shared through Redis when it is configured.
    pub limiter: crate::rate::Limiter,
    pub audit: AuditLog,
    /// Scored reports by the cached counts they were scored from.
    pub scored: moka::future::Cache<Arc<String>, (crate::domain::time::Micros, Arc<Scored>)>,
    /// Breakdown cells by the cached text they were read from (a province's cells take tens of milliseconds to
    /// read back).
    pub cells: moka::future::Cache<Arc<String>, Arc<db::indicators::Cells>>,
    /// Dossiers by code, looked up through this app's pool with concurrent lookups coalesced.
    dossiers_by_code: Arc<Lookups<entity::dossier::Model>>,
    /// Public statuses by code, looked up the same way.
    statuses_by_code: Arc<Lookups<entity::dossier::PublicStatus>>,
    /// Where the reads that may use a replica run (the primary when none is configured).
    pub reads: Arc<db::replicas::Reads>,
    snapshot: Arc<RwLock<Option<Snapshot>>>,
    shared_reads: Arc<SharedReads<db::DataVersion>>,
    /// The versions this instance may use without reading them, while writers wait for it (PostgreSQL).
    pub freshness: db::freshness::Freshness,
}

/// Dossier rows of one shape by code, looked up through one pool with concurrent lookups coalesced.
type Lookups<M> = db::coalesce::Coalescer<DossierCode, M>;

/// Statements at a time, and codes per statement, of one pool's lookups.
const LOOKUPS_IN_FLIGHT: usize = 4;
const LOOKUPS_PER_STATEMENT: usize = 64;

fn lookups<M>(db: &DatabaseConnection) -> Arc<Lookups<M>>
where
    M: sea_orm::PartialModelTrait + entity::dossier::Coded + Clone + Send + Sync + 'static,
{
    let db = db.clone();
    db::coalesce::Coalescer::new(LOOKUPS_IN_FLIGHT, LOOKUPS_PER_STATEMENT, move |codes| {
        let db = db.clone();
        async move { db::read::dossiers_by_code::<M>(&db, codes).await }
    })
}

/// What an indicator answer is computed from, read after its request arrived.
pub struct IndicatorInputs {
    pub units: Arc<UnitTree>,
    pub calendar: Arc<Calendar>,
    /// The version of the scope's data and the reference data, read after the request arrived.
    pub version: db::DataVersion,
    /// The name the version goes by (see [`App::version_of`]).
    pub scope_key: String,
}

impl App {
    pub fn new(db: DatabaseConnection, settings: Settings) -> Result<Self, StartError> {
        let verifier = Verifier::new(&settings.jwt)?;
        let cache = AggregateCache::new(settings.redis_url.as_deref(), &settings.redis_prefix)?;
        let vault = Vault::new(settings.pii_key());
        let (status_feed, _) = broadcast::channel(1024);
        let settings_rate = settings.rate;
        Ok(App {
            audit: AuditLog::start(db.clone()),
            reads: Arc::new(db::replicas::Reads::primary_only(db.clone())),
            dossiers_by_code: lookups(&db),
            statuses_by_code: lookups(&db),
            db,
            settings: Arc::new(settings),
            vault,
            verifier: Arc::new(verifier),
            status_feed,
            limiter: crate::rate::Limiter::new(settings_rate, cache.clone()),
            cache,
            scored: moka::future::Cache::new(10_000),
            cells: moka::future::Cache::new(64),
            snapshot: Arc::new(RwLock::new(None)),
            shared_reads: Arc::new(SharedReads::default()),
            freshness: db::freshness::Freshness::new(),
        })
    }

    /// The same app, with its indicator computations, drill-downs, exports and staff reads on `replicas` when they
    /// have caught up within `max_wait` (see [`db::replicas`]).
    pub fn with_replicas(mut self, replicas: Vec<DatabaseConnection>, max_wait: std::time::Duration) -> Self {
        self.reads = Arc::new(db::replicas::Reads::new(self.db.clone(), replicas, max_wait));
        self
    }

    /// The same app on another pool of the same database (an HTTP worker's own, see
    /// [`db::connect_per_worker`]): its reads of the primary, replica-eligible ones included, use that pool;
    /// everything else is shared.
    pub fn with_db(&self, db: DatabaseConnection) -> App {
        // The worker's reads of the data versions are shared among its own requests only: a request waiting
        // for another thread's read would be woken by that thread, one waiter after another.
        App {
            dossiers_by_code: lookups(&db),
            statuses_by_code: lookups(&db),
            shared_reads: Arc::new(SharedReads::default()),
            reads: Arc::new(self.reads.on_primary(db.clone())),
            db,
            ..self.clone()
        }
    }

    /// The dossier of `code`, read by a statement sent after this call began (one statement may answer many
    /// concurrent lookups, see [`db::coalesce`]).
    pub async fn dossier_by_code(&self, code: &DossierCode) -> Result<Option<entity::dossier::Model>, DbErr> {
        self.dossiers_by_code.get(code.clone()).await.map_err(db::coalesce::unshare)
    }

    /// The public status of the dossier of `code`, as [`App::dossier_by_code`] reads a dossier.
    pub async fn public_status(
        &self,
        code: &DossierCode,
    ) -> Result<Option<entity::dossier::PublicStatus>, DbErr> {
        self.statuses_by_code.get(code.clone()).await.map_err(db::coalesce::unshare)
    }

    async fn snapshot(&self) -> Result<(Arc<UnitTree>, Arc<Calendar>), DbErr> {
        let no_scope = Scope { ids: Default::default(), whole_tree: false };
        let generation = self.version_of("", &no_scope).await?.reference;
        self.snapshot_at(generation).await
    }

    /// The reference data, reloaded when it is older than `generation`.
    async fn snapshot_at(&self, generation: i64) -> Result<(Arc<UnitTree>, Arc<Calendar>), DbErr> {
        if let Some(s) = self.snapshot.read().await.as_ref()
            && s.generation == generation
        {
            return Ok((s.units.clone(), s.calendar.clone()));
        }
        let units = Arc::new(db::load_units(&self.db).await?);
        let calendar = Arc::new(db::load_calendar(&self.db).await?);
        *self.snapshot.write().await =
            Some(Snapshot { generation, units: units.clone(), calendar: calendar.clone() });
        Ok((units, calendar))
    }

    /// The scope of `unit_code` at `t` and its data generation, with one database read (shared with concurrent
    /// callers, see [`SharedReads`]) that started after this call began: an answer cached for that version includes
    /// every write acknowledged before. The unit tree is reloaded first when the reference data moved.
    pub async fn indicator_inputs(
        &self,
        unit_code: &str,
        t: crate::domain::time::Micros,
    ) -> Result<IndicatorInputs, DbErr> {
        let loaded = self.snapshot.read().await.as_ref().map(|s| (s.units.clone(), s.calendar.clone()));
        let (mut units, mut calendar) = match loaded {
            Some(loaded) => loaded,
            None => self.snapshot().await?,
        };
        let mut attempts = 0;
        loop {
            let at = units.scope_of(unit_code, t);
            let version = self.version_of(&at.key, &at.scope).await?;
            let current =
                self.snapshot.read().await.as_ref().is_some_and(|s| s.generation == version.reference);
            attempts += 1;
            if current || attempts == 3 {
                return Ok(IndicatorInputs { units, calendar, version, scope_key: at.key.clone() });
            }
            (units, calendar) = self.snapshot_at(version.reference).await?;
        }
    }

    /// The version of `scope` (named `key`) as of this call: remembered when writers wait for this instance
    /// (see [`db::freshness`]), otherwise read by a read that started after this call began.
    pub(crate) async fn version_of(&self, key: &str, scope: &Scope) -> Result<db::DataVersion, DbErr> {
        if let Some(v) = self.remembered_version(key) {
            return Ok(v);
        }
        let epoch = self.freshness.epoch();
        let v = self.shared_reads.get(key, || db::data_version(&self.db, scope)).await?;
        self.freshness.remember(key, epoch, v);
        Ok(v)
    }

    /// The version of the scope named `key`, when this instance may use it without reading it (see
    /// [`db::freshness`]).
    pub fn remembered_version(&self, key: &str) -> Option<db::DataVersion> {
        self.freshness.remembered(key)
    }

    /// Starts listening for writes, so that cached answers need no version read per request (PostgreSQL).
    pub fn listen_for_writes(&self) {
        self.freshness.listen(&self.db);
    }

    /// The caller a request's `Authorization` header names: none is anonymous; a token must verify and name a
    /// unit that exists (a token for a unit imported later must not gain a scope then). The unit is looked up in
    /// the tree already loaded, and in a fresh one only when it is not there.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Verified, Authentication> {
        let verified = self.verifier.from_header(header)?;
        if let Caller::Staff { unit, .. } = &verified.caller {
            let loaded = self.snapshot.read().await.as_ref().map(|s| s.units.clone());
            let known = match loaded {
                Some(tree) if tree.get(unit).is_some() => true,
                _ => self.units().await?.get(unit).is_some(),
            };
            if !known {
                return Err(Authentication::Refused(AuthError::UnknownUnit));
            }
        }
        Ok(verified)
    }

    /// The unit tree as of the latest write (reloaded when the data generation moved).
    pub async fn units(&self) -> Result<Arc<UnitTree>, DbErr> {
        Ok(self.snapshot().await?.0)
    }

    /// The unit tree as last loaded, without asking the database whether it moved since (`None` before the
    /// first load): for estimates that must not touch the database, such as a request's cost.
    pub async fn loaded_units(&self) -> Option<Arc<UnitTree>> {
        self.snapshot.read().await.as_ref().map(|s| s.units.clone())
    }

    /// The holiday calendar as of the latest write.
    pub async fn calendar(&self) -> Result<Arc<Calendar>, DbErr> {
        Ok(self.snapshot().await?.1)
    }

    /// Announces a status change to subscribers (nobody listening is fine).
    pub fn announce(&self, change: StatusChanged) {
        let _ = self.status_feed.send(change);
    }
}
