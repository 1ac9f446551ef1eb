//! Subscriptions (served over `graphql-transport-ws`).

use async_graphql::{Context, ErrorExtensions, Subscription};
use futures_util::Stream;
use futures_util::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::types::PublicDossierStatus;
use super::{IntoGql, app};
use crate::db::read;

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
}
