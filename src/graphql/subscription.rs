//! Subscriptions (served over `graphql-transport-ws`). Every event goes through the service again, as the
//! subscriber at that instant: an expired token ends the subscription with an error, and a dossier that left
//! the subscriber's records is not sent.

use async_graphql::{Context, ErrorExtensions, Subscription};
use futures_util::Stream;
use futures_util::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::indicators::{IndicatorReport, PeriodInput, to_report};
use super::types::{Dossier, PublicDossierStatus};
use super::{IntoGql, app, caller};
use crate::app::App;
use crate::auth::Caller;
use crate::domain::indicators::Window;
use crate::domain::time::now;
use crate::service::policy::Operation;
use crate::service::{ApiError, RequestMeta, Service};

/// How often a report subscription looks for changed data.
const REPORT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// What a subscription keeps of its request, to act as the subscriber at every event.
#[derive(Clone)]
struct Subscriber {
    app: App,
    caller: Caller,
    meta: RequestMeta,
}

impl Subscriber {
    fn of(ctx: &Context<'_>) -> Self {
        Subscriber {
            app: app(ctx).clone(),
            caller: caller(ctx).clone(),
            meta: ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default(),
        }
    }

    fn service(&self) -> Service<'_> {
        Service::new(&self.app, &self.caller, &self.meta)
    }
}

/// Ends a stream of results after its first error (which is still sent).
fn until_error<T: Send + 'static>(
    s: impl Stream<Item = async_graphql::Result<T>> + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    s.scan(false, |failed, item| {
        let out = if *failed { None } else { Some(item) };
        if let Some(Err(_)) = &out {
            *failed = true;
        }
        futures_util::future::ready(out)
    })
}

/// Root of every subscription.
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The public status of one dossier: first as it stands, then each time it changes (no token needed, no
    /// personal data).
    async fn dossier_status_changed(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<PublicDossierStatus>>> {
        let sub = Subscriber::of(ctx);
        // Listen before reading, so that no change between the read and the first message is lost.
        let rx = sub.app.status_feed.subscribe();
        let current = sub
            .service()
            .dossier_status(&code.clone().into())
            .await
            .gql()?
            .ok_or(ApiError::NotFound.extend())?;
        let changes = BroadcastStream::new(rx).filter_map(move |msg| {
            let (sub, code) = (sub.clone(), code.clone());
            async move {
                let change = msg.ok().filter(|c| c.code == *code && c.status_changed)?;
                sub.service()
                    .dossier_status(&change.code)
                    .await
                    .gql()
                    .transpose()
                    .map(|r| r.map(PublicDossierStatus))
            }
        });
        Ok(until_error(
            futures_util::stream::once(async move { Ok(PublicDossierStatus(current)) }).chain(changes),
        ))
    }

    /// The dossiers of the caller's records (a citizen: their own; staff: their scope, or `unitCode`'s within it)
    /// each time one changes through this gateway: received, moved, supplemented, apologised for. Each is sent
    /// only if the subscriber may read it at that instant; the personal fields sent are recorded like any read.
    async fn dossier_changed(
        &self,
        ctx: &Context<'_>,
        unit_code: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Dossier>>> {
        let sub = Subscriber::of(ctx);
        let rx = sub.app.status_feed.subscribe();
        sub.service().subscribe_dossier_changes(unit_code.as_deref()).await.gql()?;
        let changes = BroadcastStream::new(rx).filter_map(move |msg| {
            let (sub, unit) = (sub.clone(), unit_code.clone());
            async move {
                let change = msg.ok()?;
                let seen = sub.service().dossier_changed(&change.code, unit.as_deref()).await.gql();
                seen.transpose().map(|r| r.map(|d| Dossier(d, Operation::DossierChanged)))
            }
        });
        Ok(until_error(changes))
    }

    /// A unit's indicator report for a period: first as it stands, then each time the data in its scope changes
    /// (written by any process; checked every two seconds).
    async fn indicator_report_changed(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<IndicatorReport>>> {
        let sub = Subscriber::of(ctx);
        let spec = period.spec();
        sub.service().subscribe_report(&unit_code, &spec).await.gql()?;
        let reports = futures_util::stream::unfold(
            (sub, unit_code, spec, None::<crate::db::DataVersion>),
            |(sub, unit, spec, mut last)| async move {
                let mut failed = false;
                loop {
                    if last.is_some() || failed {
                        tokio::time::sleep(REPORT_POLL).await;
                    }
                    let w = Window::of(&spec, None, now()).ok()?;
                    // A database fault skips a round: the subscription goes on and catches up when it answers.
                    let version = match sub.app.indicator_inputs(&unit, w.at).await {
                        Ok(fresh) => fresh.version,
                        Err(e) => {
                            tracing::warn!(error = %e, unit = %unit, "indicator subscription: data version unavailable");
                            failed = true;
                            continue;
                        }
                    };
                    if last != Some(version) {
                        match sub.service().indicators(&unit, &spec, None).await {
                            Ok(r) => {
                                let report = to_report(unit.clone(), &r.window, &r.scored);
                                return Some((Ok(report), (sub, unit, spec, Some(version))));
                            }
                            Err(e @ ApiError::Unauthenticated) => {
                                return Some((Err(e).gql(), (sub, unit, spec, Some(version))));
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, unit = %unit, "indicator subscription: report unavailable");
                                failed = true;
                                continue;
                            }
                        }
                    }
                    last = Some(version);
                }
            },
        );
        Ok(until_error(reports))
    }
}
