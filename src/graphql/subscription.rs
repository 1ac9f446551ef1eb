//! Subscriptions (served over `graphql-transport-ws`).

use async_graphql::{Context, ErrorExtensions, Subscription};
use futures_util::Stream;
use futures_util::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::indicators::{IndicatorReport, PeriodInput, to_report};
use super::types::PublicDossierStatus;
use super::{IntoGql, app};
use crate::db::indicators as ind;
use crate::db::read;
use crate::domain::time::now;

/// How often a report subscription looks for changed data.
const REPORT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

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
    ) -> async_graphql::Result<impl Stream<Item = PublicDossierStatus>> {
        let app = app(ctx).clone();
        // Listen before reading, so that no change between the read and the first message is lost.
        let rx = app.status_feed.subscribe();
        let current = read::dossier_public(&app.db, &code)
            .await
            .gql()?
            .ok_or(super::ApiError::NotFound)
            .map_err(|e| e.extend())?;
        let changes = BroadcastStream::new(rx).filter_map(move |msg| {
            let app = app.clone();
            let code = code.clone();
            async move {
                let change = msg.ok()?;
                if change.code != code {
                    return None;
                }
                read::dossier_public(&app.db, &code).await.ok().flatten().map(PublicDossierStatus)
            }
        });
        Ok(futures_util::stream::once(async move { PublicDossierStatus(current) }).chain(changes))
    }

    /// A unit's indicator report for a period: first as it stands, then each time the data in its scope changes
    /// (written by any process; checked every two seconds).
    async fn indicator_report_changed(
        &self,
        ctx: &Context<'_>,
        unit_code: String,
        period: PeriodInput,
    ) -> async_graphql::Result<impl Stream<Item = IndicatorReport>> {
        let app = app(ctx).clone();
        let spec = period.spec();
        ind::window(&spec, None, now()).gql()?;
        if app.units().await.gql()?.get(&unit_code).is_none() {
            return Err(super::ApiError::NotFound.extend());
        }
        Ok(futures_util::stream::unfold(
            (app, unit_code, spec, None::<crate::db::DataVersion>),
            |(app, unit, spec, mut last)| async move {
                let mut failed = false;
                loop {
                    if last.is_some() || failed {
                        tokio::time::sleep(REPORT_POLL).await;
                    }
                    let w = ind::window(&spec, None, now()).ok()?;
                    // A database fault skips a round: the subscription goes on and catches up when it answers.
                    let version = match app.fresh_scope(&unit, w.t).await {
                        Ok(fresh) => fresh.version,
                        Err(e) => {
                            tracing::warn!(error = %e, unit = %unit, "indicator subscription: data version unavailable");
                            failed = true;
                            continue;
                        }
                    };
                    if last != Some(version) {
                        match crate::indicators::report(&app, &unit, &w).await {
                            Ok(r) => {
                                let report = to_report(unit.clone(), &r.window, &r.scored);
                                return Some((report, (app, unit, spec, Some(version))));
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
        ))
    }
}
